//! Connection tests against tiny fake brokers (beside the code, own file for size).

use super::*;
use moldau_protocol::kafka::messages::api_versions_response::ApiVersion;
use moldau_protocol::kafka::messages::{MetadataRequest, MetadataResponse};
use tokio::net::TcpListener;

/// A tiny fake broker: answers ApiVersions (optionally first refusing v3), then
/// answers Metadata requests in reverse order of arrival to prove matching by id.
async fn fake_broker(refuse_v3: bool) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        let mut buf = BytesMut::new();
        let mut held = Vec::new();
        loop {
            let frame = loop {
                if let Some(f) = moldau_protocol::frame::split_frame(&mut buf, 1 << 20).unwrap() {
                    break f;
                }
                if sock.read_buf(&mut buf).await.unwrap() == 0 {
                    return;
                }
            };
            let mut f = frame.clone();
            let (key, header) = moldau_protocol::frame::decode_header(&mut f).unwrap();
            let mut out = BytesMut::new();
            out.put_u32(0);
            out.put_i32(header.correlation_id);
            match key {
                ApiKey::ApiVersions => {
                    let v = header.request_api_version;
                    let resp = ApiVersionsResponse::default().with_api_keys(vec![
                        ApiVersion::default()
                            .with_api_key(18)
                            .with_min_version(0)
                            .with_max_version(2),
                        ApiVersion::default()
                            .with_api_key(3)
                            .with_min_version(0)
                            .with_max_version(12),
                    ]);
                    if refuse_v3 && v == 3 {
                        resp.with_error_code(UNSUPPORTED_VERSION)
                            .encode(&mut out, 0)
                            .unwrap();
                    } else {
                        resp.encode(&mut out, v).unwrap();
                    }
                }
                _ => {
                    let v = header.request_api_version;
                    // Response header v1 (Metadata v9+) ends with tagged fields.
                    if v >= 9 {
                        out.put_u8(0);
                    }
                    let resp = MetadataResponse::default().with_cluster_id(Some(
                        StrBytes::from_string(format!("c{}", header.correlation_id)),
                    ));
                    resp.encode(&mut out, v).unwrap();
                    held.push(out);
                    if held.len() < 2 {
                        continue;
                    }
                    for mut o in held.drain(..).rev() {
                        let n = (o.len() - 4) as u32;
                        o[..4].copy_from_slice(&n.to_be_bytes());
                        sock.write_all(&o).await.unwrap();
                    }
                    continue;
                }
            }
            let n = (out.len() - 4) as u32;
            out[..4].copy_from_slice(&n.to_be_bytes());
            sock.write_all(&out).await.unwrap();
        }
    });
    addr
}

#[tokio::test]
async fn negotiates_and_matches_pipelined_responses_by_correlation_id() {
    let addr = fake_broker(false).await;
    let conn = Connection::connect(&addr, &ConnectionConfig::default())
        .await
        .unwrap();
    assert_eq!(conn.version_for(ApiKey::Metadata).unwrap(), 12);
    assert!(conn.version_for(ApiKey::Fetch).is_err());
    let req = MetadataRequest::default();
    let (a, b) = tokio::join!(conn.send(&req), conn.send(&req));
    let (a, b) = (a.unwrap(), b.unwrap());
    // Each caller gets the response that names its own correlation id.
    assert_ne!(a.cluster_id, b.cluster_id);
    let ids: Vec<_> = [a, b]
        .iter()
        .map(|r| r.cluster_id.as_ref().unwrap().to_string())
        .collect();
    assert!(ids.contains(&"c2".to_string()) && ids.contains(&"c3".to_string()));
}

#[tokio::test]
async fn falls_back_when_broker_refuses_api_versions_v3() {
    let addr = fake_broker(true).await;
    let conn = Connection::connect(&addr, &ConnectionConfig::default())
        .await
        .unwrap();
    assert_eq!(conn.version_for(ApiKey::Metadata).unwrap(), 12);
}

#[tokio::test]
async fn garbage_and_closed_sockets_fail_requests_without_panic() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        let mut b = [0u8; 64];
        let _ = sock.read(&mut b).await;
        // A frame claiming 2 GiB, then close.
        sock.write_all(&[0x7f, 0xff, 0xff, 0xff, 1, 2, 3])
            .await
            .unwrap();
    });
    let err = Connection::connect(&addr, &ConnectionConfig::default())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Protocol(_) | Error::Disconnected(_)));

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        let mut b = [0u8; 64];
        let _ = sock.read(&mut b).await;
        // A well-sized frame whose body is nonsense.
        sock.write_all(&[0, 0, 0, 6, 0, 0, 0, 1, 0xff, 0xff])
            .await
            .unwrap();
    });
    let err = Connection::connect(&addr, &ConnectionConfig::default())
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Protocol(_) | Error::Broker(_)),
        "{err}"
    );
}
