//! `GET /limits`.

use crate::resp::Resp;
use crate::sim::Sim;
use serde_json::json;

pub fn limits(sim: &Sim) -> Resp {
    let a = sim.acct().clone();
    let streaming = sim.streaming_status();
    let records: usize = sim.org().tables.values().map(|t| t.records.len()).sum();
    // Salesforce counts most records as 2 KB of data storage.
    let used_mb = (records * 2 / 1024) as u64;
    let pair = |max: u64, used: u64| json!({"Max": max, "Remaining": max.saturating_sub(used)});
    Resp::ok(json!({
        "ConcurrentAsyncGetReportInstances": pair(200, 0),
        "DailyApiRequests": pair(a.api_limit, a.api_calls),
        "DailyAsyncApexExecutions": pair(250000, 0),
        "DailyBulkApiBatches": pair(15000, a.bulk_ingest_batches),
        "DailyBulkV2QueryFileStorageMB": pair(976562, 0),
        "DailyBulkV2QueryJobs": pair(10000, a.bulk_query_jobs),
        "DataStorageMB": pair(1024.max(used_mb * 2), used_mb),
        "FileStorageMB": pair(20, 0),
        "HourlyODataCallout": pair(10000, 0),
        "SingleEmail": pair(15, 0),
        "StreamingApiConcurrentClients": pair(20, 0),
        "DailyStandardVolumePlatformEvents": pair(10000, 0),
        "DailyDeliveredPlatformEvents": pair(streaming.delivery_limit, streaming.delivered),
        "DurableStreamingApiConcurrentClients": pair(
            streaming.max_clients as u64,
            streaming.clients as u64,
        ),
        "MonthlyPlatformEventsUsageEntitlement": pair(0, 0),
    }))
}
