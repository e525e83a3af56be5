use super::*;

fn check_request(line: &str, expect: Result<Request, &str>) {
    match (decode_request(line.as_bytes()), expect) {
        (Ok((token, got)), Ok(want)) => {
            assert_eq!(token, "t");
            assert_eq!(got, want);
        }
        (Err(got), Err(want)) => {
            assert_eq!(got.class, ErrorClass::Operator);
            assert!(got.message.contains(want), "{got} lacks {want}");
        }
        (got, want) => panic!("{line}: got {got:?}, want {want:?}"),
    }
}

#[test]
fn request_lines_are_parsed_strictly() {
    check_request(
        r#"{"token":"t","op":"send","peer":"B","precedence":"FLASH","text":"x"}"#,
        Ok(Request::Send {
            peer: "B".into(),
            precedence: Precedence::Flash,
            text: "x".into(),
            exercise: false,
            translations: Default::default(),
            operator: None,
        }),
    );
    check_request(
        r#"{"token":"t","op":"send","peer":"B","precedence":"flash","text":"x","exercise":true,"operator":"Ana"}"#,
        Ok(Request::Send {
            peer: "B".into(),
            precedence: Precedence::Flash,
            text: "x".into(),
            exercise: true,
            translations: Default::default(),
            operator: Some("Ana".into()),
        }),
    );
    check_request(
        r#"{"token":"t","op":"alarm_ack","id":3,"operator":"Ana"}"#,
        Ok(Request::AlarmAck {
            id: 3,
            note: None,
            operator: "Ana".into(),
        }),
    );
    check_request(
        r#"{"token":"t","op":"send","peer":"B","precedence":"urgent","text":"x"}"#,
        Err("unknown precedence \"urgent\"; use flash, immediate, priority or routine"),
    );
    // An optional field given as empty is as if left out.
    check_request(
        r#"{"token":"t","op":"send","peer":"B","precedence":"flash","text":"x","translations":{},"operator":null}"#,
        Ok(Request::Send {
            peer: "B".into(),
            precedence: Precedence::Flash,
            text: "x".into(),
            exercise: false,
            translations: Default::default(),
            operator: None,
        }),
    );
    check_request(
        r#"{"token":"t","op":"send","peer":"B","precedence":"flash","text":"x","txt":"y"}"#,
        Err("unknown field `txt`"),
    );
    check_request(
        r#"{"token":"t","op":"status","extra":1}"#,
        Err("unknown field `extra`"),
    );
    check_request(
        r#"{"token":"t","op":"subscribe","extra":null}"#,
        Err("unknown field `extra`"),
    );
    check_request(r#"{"op":"status"}"#, Err("token is missing"));
    check_request(r#"{"token":"t","op":"fly"}"#, Err("unknown variant `fly`"));
    check_request(
        r#"{"token":"t","op":"peer_add","card":"c","fingerprint":"f"}"#,
        Ok(Request::PeerAdd {
            card: "c".into(),
            fingerprint: "f".into(),
            address: None,
        }),
    );
    check_request(
        r#"{"token":"t","op":"channel_add","peer":"B","kind":"pigeon","target":"x"}"#,
        Err("unknown channel kind \"pigeon\""),
    );
    check_request("not json", Err("malformed request"));
    let request = Request::CourierImport {
        path: "/b".into(),
        salvage: true,
    };
    let line = encode_request("t", &request).expect("encodes");
    check_request(
        std::str::from_utf8(&line).expect("UTF-8").trim(),
        Ok(request),
    );
}

/// A path that is not UTF-8 cannot be carried: a clear refusal, not a panic.
#[test]
fn a_path_that_is_not_utf8_is_refused_as_the_operator_s() {
    use std::os::unix::ffi::OsStrExt as _;
    let request = Request::CourierImport {
        path: std::ffi::OsStr::from_bytes(b"/bundles/na\xffme").into(),
        salvage: false,
    };
    let error = encode_request("t", &request).expect_err("refused");
    assert_eq!(error.class, ErrorClass::Operator);
    assert!(error.message.contains("must be UTF-8"), "{error}");
}

fn send_of(text: String) -> Request {
    Request::Send {
        peer: "B".into(),
        precedence: Precedence::Routine,
        text,
        exercise: false,
        translations: Default::default(),
        operator: None,
    }
}

/// A request line of `API_LINE_SIZE_MAX_BYTES` goes; one byte more is refused before it is
/// sent (the daemon would read only so much of it and close), as the operator's: nothing was
/// done. (No request within the other limits comes near it: a text and its translations, of
/// control characters each six bytes in JSON, make some 870 KB. The texts here are over
/// their own limit, which the daemon checks.)
#[test]
fn a_request_line_over_its_limit_is_refused_before_it_is_sent() {
    let empty = encode_request("t", &send_of(String::new()))
        .expect("encodes")
        .len();
    let fill = API_LINE_SIZE_MAX_BYTES - empty;
    let line = encode_request("t", &send_of("a".repeat(fill))).expect("at the limit");
    assert_eq!(line.len(), API_LINE_SIZE_MAX_BYTES);
    let error = encode_request("t", &send_of("a".repeat(fill + 1))).expect_err("over it");
    assert_eq!(error.class, ErrorClass::Operator);
    assert!(
        error.message.contains("over the API's limit")
            && error.message.contains("nothing was done"),
        "{error}"
    );
    let escaped = "\u{1}".repeat(fill / 5);
    let error = encode_request("t", &send_of(escaped)).expect_err("over it once escaped");
    assert_eq!(error.class, ErrorClass::Operator);
}

/// An answer line of `API_LINE_SIZE_MAX_BYTES` is sent whole; a longer one is replaced with a
/// `stopping` error saying so (the client reads at most so much of a line).
#[test]
fn an_answer_over_its_limit_is_replaced_with_an_error() {
    let rotated = |names: Vec<String>| {
        Ok(Reply::KeyRotated(KeyRotated {
            key_id: "k".into(),
            announced_to: names,
            announce_later: Vec::new(),
            not_announced: Vec::new(),
        }))
    };
    let empty = encode_answer(&rotated(vec![String::new()])).len();
    let fill = API_LINE_SIZE_MAX_BYTES - empty;
    let at = rotated(vec!["a".repeat(fill)]);
    let line = encode_answer(&at);
    assert_eq!(line.len(), API_LINE_SIZE_MAX_BYTES);
    let text = std::str::from_utf8(&line).expect("UTF-8");
    assert_eq!(decode_answer(text).expect("decodes"), at);
    let line = encode_answer(&rotated(vec!["a".repeat(fill + 1)]));
    let text = std::str::from_utf8(&line).expect("UTF-8");
    let error = decode_answer(text).expect("decodes").expect_err("replaced");
    assert_eq!(error.class, ErrorClass::Stopping);
    assert!(
        error
            .message
            .contains(&format!("is {} bytes", API_LINE_SIZE_MAX_BYTES + 1)),
        "{error}"
    );
}

#[test]
fn answers_round_trip() {
    let sent = Reply::Sent(Sent {
        id: EntryId([7; 32]),
        seq: 3,
        peer: "Bravo".into(),
    });
    for answer in [
        Ok(sent),
        Ok(Reply::Subscribed),
        Err(ApiError::new(ErrorClass::Peer, "card refused")),
    ] {
        let line = encode_answer(&answer);
        let text = std::str::from_utf8(&line).expect("UTF-8");
        assert!(text.ends_with('\n') && !text.trim_end().contains('\n'));
        assert_eq!(decode_answer(text).expect("decodes"), answer);
    }
    let line = encode_answer(&Ok(Reply::Sent(Sent {
        id: EntryId([1; 32]),
        seq: 9,
        peer: "B".into(),
    })));
    let value: serde_json::Value = serde_json::from_slice(&line).expect("JSON");
    assert_eq!(value["ok"], true);
    assert_eq!(value["kind"], "sent");
    assert_eq!(value["result"]["seq"], 9);
    assert_eq!(value["result"]["id"], "01".repeat(32));
    let error = encode_answer(&Err(ApiError::operator("no")));
    let value: serde_json::Value = serde_json::from_slice(&error).expect("JSON");
    assert_eq!(value["ok"], false);
    assert_eq!(value["class"], "operator");
    assert_eq!(value["error"], "no");
    assert_eq!(value["result"], serde_json::Value::Null);
}
