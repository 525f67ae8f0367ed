//! SQLite only: the write-ahead log is copied into the database file in the background after
//! commits, so that no request pays for it and the log is restarted instead of growing.

use crate::fixtures::{create_org, event, ip_dst};
use crate::support::{count, database_url, run_sqlite};
use kizuna_store::Store;
use std::time::Duration;

#[tokio::test]
async fn the_write_ahead_log_is_copied_back_after_commits_and_restarted() {
    run_sqlite(log_copied_back).await;
}

async fn log_copied_back(store: Store) {
    let url = database_url();
    let wal = format!("{}-wal", url.trim_start_matches("sqlite://"));
    let org = create_org(&store, "WAL").await;
    let mut sizes = Vec::new();
    for round in 0..10 {
        let mut batch = event(org.id, &format!("round {round}"));
        batch.attributes = (0..2_000)
            .map(|n| ip_dst(&format!("10.{round}.{}.{}", n / 250, n % 250)))
            .collect();
        store.insert_event(&batch, false).await.unwrap();
        // Longer than the task's pause between two checkpoints, so each commit is copied
        // before the next one begins and the next one writes the log from its start.
        tokio::time::sleep(Duration::from_millis(400)).await;
        sizes.push(std::fs::metadata(&wal).unwrap().len());
    }
    // Without the task the log only grows until it holds 64 MiB (`wal_autocheckpoint`): ten
    // rounds would leave about ten times the first round's size.
    assert!(
        *sizes.iter().max().unwrap() < sizes[0] * 3,
        "the log kept growing: {sizes:?}"
    );
    assert_eq!(count(&store, "attributes").await, 20_000);
}
