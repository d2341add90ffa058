//! Acked means committed: kill -9 right after the acks, restart, everything is there.

use crate::util::Server;
use crate::util::raw::Raw;
use chapar_proto::frame::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_messages_survive_kill_9() {
    // 300 pipelined requests: raise the burst so the rate limiter does not answer some of them.
    let mut server = Server::start_with(&[("CHAPAR_LIMITS__REQUEST_BURST", "1000")]);
    let url = server.ws_url();
    let mut a = Raw::register(&url, "dur_a").await;
    let b = Raw::register(&url, "dur_b").await;
    let conv = a
        .send_to_peer("dur_b", "first", "d0")
        .await
        .unwrap()
        .conversation;
    // Pipeline 300 sends, wait for every ack, then kill -9 at once.
    let mut ids = vec![];
    for n in 1..=300 {
        let id = a
            .send_request(Request::Send(Send {
                conversation: Some(conv),
                peer: None,
                client_id: format!("d{n}"),
                content_type: None,
                text: Some(format!("message {n}")),
                data: None,
                reply_to: None,
            }))
            .await;
        ids.push(id);
    }
    let mut acked = vec![];
    for id in ids {
        match a.reply(id).await.expect("ack") {
            Response::Sent(s) => acked.push((s.seq, s.server_time)),
            other => panic!("{other:?}"),
        }
    }
    server.kill9();
    server.restart();
    let url = server.ws_url();
    // Sessions are durable too: the reader resumes with its token.
    let mut b = b.reconnect(&url).await.expect("token survives the crash");
    let history = b.history(conv).await.unwrap();
    assert_eq!(history.len(), 301);
    for (seq, time) in &acked {
        let m = history
            .iter()
            .find(|m| m.seq == *seq)
            .unwrap_or_else(|| panic!("acked seq {seq} lost"));
        assert_eq!(m.server_time, *time);
        assert_eq!(
            m.text.as_deref(),
            Some(format!("message {}", seq - 1).as_str())
        );
    }
    // And the log continues densely after the restart.
    let mut a = a.reconnect(&url).await.unwrap();
    assert_eq!(
        a.send_text(conv, "after restart", "d-after")
            .await
            .unwrap()
            .seq,
        302
    );
}
