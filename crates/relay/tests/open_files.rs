//! The relay raises its open-files limit to what its connection bound needs, within the hard
//! limit. (Its own process: the test lowers the limit first.)

use parley_relay::server::{OPEN_FILES_NEEDED, raise_open_files_limit};
use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

#[test]
fn a_low_open_files_limit_is_raised_to_what_the_connections_need_within_the_hard_limit() {
    let hard = getrlimit(Resource::Nofile).maximum;
    let low = Rlimit {
        current: Some(512),
        maximum: hard,
    };
    setrlimit(Resource::Nofile, low).expect("a lower soft limit is always allowed");
    let expected = hard.map_or(OPEN_FILES_NEEDED, |hard| hard.min(OPEN_FILES_NEEDED));
    assert_eq!(raise_open_files_limit(), Some(expected));
    assert_eq!(getrlimit(Resource::Nofile).current, Some(expected));
    // Already enough: left as it is.
    assert_eq!(raise_open_files_limit(), Some(expected));

    if hard.is_none_or(|hard| hard > OPEN_FILES_NEEDED) {
        let higher = OPEN_FILES_NEEDED + 1;
        let above = Rlimit {
            current: Some(higher),
            maximum: hard,
        };
        setrlimit(Resource::Nofile, above).expect("within the hard limit");
        assert_eq!(raise_open_files_limit(), Some(higher), "never lowered");
    }
}

/// The connections served, and the unauthenticated among them, follow the open-files limit
/// when it is too low for the defaults, on both sides of what the defaults need.
#[test]
fn the_connection_bounds_shrink_with_a_low_open_files_limit() {
    use parley_relay::limits::{CONNECTIONS_MAX, UNAUTHENTICATED_CONNECTIONS_MAX};
    use parley_relay::server::{CONNECTIONS_MIN, ConnectionBounds};
    let bounds = |connections, unauthenticated| ConnectionBounds {
        connections,
        unauthenticated,
    };
    let defaults = bounds(CONNECTIONS_MAX, UNAUTHENTICATED_CONNECTIONS_MAX);
    assert_eq!(ConnectionBounds::under(None), defaults);
    assert_eq!(ConnectionBounds::under(Some(OPEN_FILES_NEEDED)), defaults);
    assert_eq!(
        ConnectionBounds::under(Some(OPEN_FILES_NEEDED * 4)),
        defaults
    );
    assert_eq!(
        ConnectionBounds::under(Some(OPEN_FILES_NEEDED - 1)),
        bounds(CONNECTIONS_MAX - 1, UNAUTHENTICATED_CONNECTIONS_MAX - 1)
    );
    // A common default soft limit, when the hard limit allows no more.
    assert_eq!(ConnectionBounds::under(Some(1024)), bounds(768, 192));
    assert_eq!(
        ConnectionBounds::under(Some(0)),
        bounds(CONNECTIONS_MIN, CONNECTIONS_MIN / 4)
    );
}
