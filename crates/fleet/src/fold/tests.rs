//! Folding outputs: identical ones together, different ones apart, the bound on what is
//! kept, what the text and HTML show.

use proptest::prelude::*;

use super::*;

fn ok(fold: &mut Fold, host: &str, out: &str) -> Added {
    fold.add(host, Status::Ok, Output::Text(out.as_bytes()), 120)
}

#[test]
fn identical_outputs_share_a_block_named_by_the_folded_hosts() {
    let mut f = Fold::new(1 << 20);
    for h in ["web03", "web01", "web07", "web02", "db1"] {
        ok(&mut f, h, "Ubuntu 24.04\n");
    }
    assert_eq!(ok(&mut f, "web04", "Debian 12\n"), Added::Kept);
    assert_eq!(
        f.add(
            "web05",
            Status::Failed { exit_code: 2 },
            Output::Text(b"Debian 12\n"),
            3400
        ),
        Added::Kept
    );
    f.add(
        "web06",
        Status::Unreachable {
            message: "connection refused".into(),
        },
        Output::Text(b""),
        5000,
    );
    assert_eq!(
        text(&f),
        "----------------\ndb1,web[01-03,07]\n----------------\nUbuntu 24.04\n\
         ----------------\nweb04\n----------------\nDebian 12\n\
         ----------------\nweb05 (exit 2)\n----------------\nDebian 12\n\
         ----------------\nweb06 (unreachable: connection refused)\n----------------\n"
    );
    assert_eq!(
        summary_text(&f),
        "host   status                           exit  duration\n\
         web06  unreachable: connection refused  -     5.0 s\n\
         web05  failed                           2     3.4 s\n\
         db1    ok                               0     120 ms\n\
         web01  ok                               0     120 ms\n\
         web02  ok                               0     120 ms\n\
         web03  ok                               0     120 ms\n\
         web04  ok                               0     120 ms\n\
         web07  ok                               0     120 ms\n"
    );
}

#[test]
fn html_escapes_every_host_text() {
    let mut f = Fold::new(1 << 20);
    ok(&mut f, "web1", "<script>alert(1)</script> & more");
    f.add(
        "web<2>",
        Status::Unreachable {
            message: "<b>no</b>".into(),
        },
        Output::Text(b""),
        1,
    );
    for html in [html(&f), summary_html(&f)] {
        assert!(!html.contains("<script>"), "{html}");
        assert!(!html.contains("<b>no"), "{html}");
    }
    assert!(html(&f).contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; more"));
    assert!(summary_html(&f).contains("<td style=\"text-align:left\">web&lt;2&gt;</td>"));
}

#[test]
fn outputs_beyond_the_cap_are_not_kept_and_go_to_files() {
    let mut f = Fold::new(10);
    assert_eq!(ok(&mut f, "a1", "12345678\n"), Added::Kept);
    assert_eq!(ok(&mut f, "a2", "12345678\n"), Added::Same);
    assert_eq!(ok(&mut f, "a3", "different\n"), Added::NotKept);
    assert_eq!(f.held(), 9);
    assert!(text(&f).contains("(10 bytes of output not kept"));
    assert!(f.spilled("a3", "/tmp/out/a3.txt"));
    assert!(!f.spilled("a1", "/tmp/x"));
    assert_eq!(
        f.add(
            "a4",
            Status::Ok,
            Output::InFile {
                path: "/tmp/out/a4.txt",
                bytes: 5 << 20
            },
            1
        ),
        Added::InFile
    );
    let t = text(&f);
    assert!(
        t.contains("a3\n----------------\n(output in /tmp/out/a3.txt, 10 bytes)"),
        "{t}"
    );
    assert!(
        t.contains("(output in /tmp/out/a4.txt, 5242880 bytes)"),
        "{t}"
    );
    assert_eq!(
        ok(&mut f, "a1", "again"),
        Added::Same,
        "a host is recorded once"
    );
}

#[test]
fn the_progress_line() {
    let p = Progress {
        done: 12,
        failed: 1,
        running: 5,
        total: 20,
    };
    assert_eq!(p.to_string(), "12 done, 1 failed, 5 running of 20");
}

proptest! {
    /// Every host is in exactly one block, hosts of a block had the same output, and the
    /// blocks do not depend on the order hosts finished in.
    #[test]
    fn the_fold_partitions_the_hosts(
        outputs in proptest::collection::vec((0u8..4, any::<bool>()), 1..60),
        seed in any::<u64>(),
    ) {
        let hosts: Vec<(String, Vec<u8>, Status)> = outputs
            .iter()
            .enumerate()
            .map(|(i, &(o, failed))| {
                let status = if failed { Status::Failed { exit_code: 1 } } else { Status::Ok };
                (format!("web{i:02}"), vec![b'x'; o as usize], status)
            })
            .collect();
        let run = |order: &[usize]| {
            let mut f = Fold::new(1 << 20);
            for &i in order {
                let (h, out, status) = &hosts[i];
                f.add(h, status.clone(), Output::Text(out), 1);
            }
            f
        };
        let forward: Vec<usize> = (0..hosts.len()).collect();
        let mut shuffled = forward.clone();
        let mut s = seed;
        for i in (1..shuffled.len()).rev() {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            shuffled.swap(i, (s >> 33) as usize % (i + 1));
        }
        let a = run(&forward);
        let b = run(&shuffled);
        prop_assert_eq!(a.blocks(), b.blocks());
        prop_assert_eq!(text(&a), text(&b));
        let mut seen = std::collections::BTreeSet::new();
        for block in a.blocks() {
            for h in &block.hosts {
                prop_assert!(seen.insert(h.clone()), "{} in two blocks", h);
                let (_, out, status) = hosts.iter().find(|(n, ..)| n == h).unwrap();
                prop_assert_eq!(&block.body, &Body::Text(out.clone()));
                prop_assert_eq!(&block.status, status);
            }
            let folded = hostlist::fold(&block.hosts);
            prop_assert_eq!(hostlist::expand(&folded).unwrap(), block.hosts.clone());
        }
        prop_assert_eq!(seen.len(), hosts.len());
        let distinct: std::collections::BTreeSet<_> =
            hosts.iter().map(|(_, o, s)| (o.clone(), s.clone() == Status::Ok)).collect();
        prop_assert_eq!(a.blocks().len(), distinct.len());
    }
}
