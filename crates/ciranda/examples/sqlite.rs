//! The seeds' aiosqlite scenario: create a table, insert 10 rows in one transaction, and read
//! them back as an async stream — with `rusqlite` (a synchronous library) on the blocking pool.
//!
//! ```python
//! async def main():
//!     await criar_tabelas(db_name, table_name)   # CREATE TABLE IF NOT EXISTS ...
//!     await inserir_dados(db_name, table_name)   # 10 × INSERT, then commit
//!     dados = await pegar_dados(db_name, table_name)  # [row async for row in cursor]
//!     print(dados)
//! ```
//!
//! aiosqlite runs each connection's calls on a thread of its own; here every call is a
//! `spawn_blocking` job holding the connection, and a query's rows come through a bounded
//! channel, so a slow consumer holds the query back instead of buffering the whole result.
//!
//! Run it with `cargo run --example sqlite` (it uses a database in the temporary directory,
//! removed at the end).

use ciranda::stream::{Stream, StreamExt};
use ciranda::sync::mpsc;
use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

type Error = Box<dyn std::error::Error + Send + Sync>;

/// An async face for a SQLite connection (aiosqlite's `Connection`).
#[derive(Clone)]
struct Db {
    conn: Arc<Mutex<Connection>>,
}

impl Db {
    /// `aiosqlite.connect(path)`: opening the file is blocking work too.
    async fn connect(path: &Path) -> Result<Db, Error> {
        let path = path.to_owned();
        let conn = ciranda::spawn_blocking(move || Connection::open(path)).await??;
        Ok(Db {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Runs `f` with the connection on the blocking pool.
    async fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, Error> {
        let conn = self.conn.clone();
        let result = ciranda::spawn_blocking(move || f(&mut conn.lock().unwrap())).await?;
        Ok(result?)
    }

    /// `await db.execute(sql)`.
    async fn execute(&self, sql: &str) -> Result<usize, Error> {
        let sql = sql.to_owned();
        self.call(move |c| c.execute(&sql, [])).await
    }

    /// `async with db.execute(select) as cursor: async for row in cursor` — rows arrive one
    /// by one while the query runs on the blocking pool.
    fn query(&self, sql: &str) -> impl Stream<Item = Result<(i64, String), Error>> + use<> {
        let (tx, rx) = mpsc::channel(4);
        let (conn, sql) = (self.conn.clone(), sql.to_owned());
        let handle = ciranda::Handle::current();
        ciranda::spawn_blocking(move || {
            let conn = conn.lock().unwrap();
            let run = || -> rusqlite::Result<()> {
                let mut stmt = conn.prepare(&sql)?;
                let rows = stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?;
                for row in rows {
                    // Waits while the channel is full; stops if the reader went away.
                    if handle.block_on(tx.send(row.map_err(Error::from))).is_err() {
                        break;
                    }
                }
                Ok(())
            };
            if let Err(e) = run() {
                let _ = handle.block_on(tx.send(Err(e.into())));
            }
        });
        rx
    }
}

/// `criar_tabelas`
async fn create_table(db_path: &Path, table: &str) -> Result<(), Error> {
    let db = Db::connect(db_path).await?;
    db.execute(&format!(
        "CREATE TABLE IF NOT EXISTS {table} (id INTEGER PRIMARY KEY, mensagem TEXT)"
    ))
    .await?;
    Ok(())
}

/// `inserir_dados`: ten inserts, one commit (Python's sqlite3 opens the transaction itself).
async fn insert_rows(db_path: &Path, table: &str) -> Result<(), Error> {
    let db = Db::connect(db_path).await?;
    db.execute("BEGIN").await?;
    for i in 0..10 {
        db.execute(&format!(
            "INSERT INTO {table} (mensagem) VALUES ('Mensagem {i}')"
        ))
        .await?;
    }
    db.execute("COMMIT").await?;
    Ok(())
}

/// `pegar_dados`: `[row async for row in cursor]`.
async fn fetch_rows(db_path: &Path, table: &str) -> Result<Vec<(i64, String)>, Error> {
    let db = Db::connect(db_path).await?;
    let mut rows = Vec::new();
    let mut cursor = std::pin::pin!(db.query(&format!("SELECT * FROM {table}")));
    while let Some(row) = cursor.next().await {
        rows.push(row?);
    }
    Ok(rows)
}

#[ciranda::main]
async fn main() -> Result<(), Error> {
    let db_path: PathBuf =
        std::env::temp_dir().join(format!("ciranda-sqlite-{}.db", std::process::id()));
    let _ = std::fs::remove_file(&db_path);
    let table = "mensagens";

    create_table(&db_path, table).await?;
    insert_rows(&db_path, table).await?;
    let rows = fetch_rows(&db_path, table).await?;

    // Python's print(dados): [(1, 'Mensagem 0'), (2, 'Mensagem 1'), ...]
    let shown: Vec<String> = rows
        .iter()
        .map(|(id, text)| format!("({id}, '{text}')"))
        .collect();
    println!("[{}]", shown.join(", "));
    println!("{} rows streamed from the blocking pool", rows.len());

    ciranda::fs::remove_file(&db_path).await?;
    Ok(())
}
