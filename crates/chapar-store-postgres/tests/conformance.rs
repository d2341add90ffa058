//! The shared Store conformance suite (chapar-core, feature `conformance`) against PgStore, one
//! test per case, each on a fresh database of the test PostgreSQL (`CHAPAR_TEST_POSTGRES_URL`).

use chapar_core::conformance;
use chapar_store_postgres::testing::TestDatabase;
use chapar_store_postgres::{PgOptions, PgStore};

fn fresh_store() -> (TestDatabase, PgStore) {
    // The macro's constructor is synchronous; the tests run on a multi-threaded runtime.
    tokio::task::block_in_place(|| {
        tokio::runtime::Handle::current().block_on(async {
            let db = TestDatabase::create("conformance").await;
            let store =
                chapar_store_postgres::open(&db.url, PgOptions::default(), conformance::limits())
                    .await
                    .unwrap_or_else(|e| panic!("open: {e}"));
            (db, store)
        })
    })
}

chapar_core::store_conformance_tests!(fresh_store);
