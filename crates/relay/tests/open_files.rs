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
