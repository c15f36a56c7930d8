//! Reading the flow files of a run: on up to `--jobs` threads when there are several, each
//! thread with a loader of its own; the flows and their problems come back in the files' order.

use dmflow::Loader;
use dmflow::diagnostic::Diagnostic;
use dmflow::flow::Flow;
use std::collections::BTreeSet;
use std::path::PathBuf;

/// Each file's flow, or its problems, in the order of `paths`. `external` names the variables
/// the command line sets.
pub fn load_flows(
    paths: &[PathBuf],
    external: &BTreeSet<String>,
    jobs: usize,
) -> Vec<Result<Flow, Vec<Diagnostic>>> {
    in_groups(paths, jobs, |group| {
        let loader = Loader::new().external(external.iter().cloned());
        group.iter().map(|path| loader.load(path)).collect()
    })
}

/// `work` on consecutive groups of `items`, at most `threads` groups at once (the first on the
/// calling thread), with the results in the items' order. A thread the system will not start
/// leaves its group to the calling thread.
fn in_groups<I: Sync, T: Send>(
    items: &[I],
    threads: usize,
    work: impl Fn(&[I]) -> Vec<T> + Sync,
) -> Vec<T> {
    let threads = threads.clamp(1, items.len().max(1));
    if threads == 1 {
        return work(items);
    }
    let work = &work;
    let mut groups = items.chunks(items.len().div_ceil(threads));
    let first = groups.next().unwrap_or_default();
    std::thread::scope(|scope| {
        let others: Vec<_> = groups
            .map(|group| {
                let started = std::thread::Builder::new()
                    .name("dmflow-load".into())
                    // The main thread's: YAML and templates recurse as deep here.
                    .stack_size(8 << 20)
                    .spawn_scoped(scope, move || work(group));
                (group, started.ok())
            })
            .collect();
        let mut results = work(first);
        for (group, thread) in others {
            results.extend(match thread {
                Some(thread) => thread
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
                None => work(group),
            });
        }
        results
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::{Duration, Instant};

    #[test]
    fn groups_run_on_threads_at_once_and_results_keep_the_order() {
        let items: Vec<usize> = (0..5).collect();
        // Every group waits, up to a bound, for the three to have started: groups that ran
        // one after the other would not meet.
        let arrived = AtomicUsize::new(0);
        let met = AtomicUsize::new(0);
        let results = in_groups(&items, 3, |group| {
            arrived.fetch_add(1, Ordering::SeqCst);
            let deadline = Instant::now() + Duration::from_secs(10);
            while arrived.load(Ordering::SeqCst) < 3 && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(1));
            }
            if arrived.load(Ordering::SeqCst) == 3 {
                met.fetch_add(1, Ordering::SeqCst);
            }
            group
                .iter()
                .map(|i| (i * 10, std::thread::current().id()))
                .collect()
        });
        assert_eq!(
            met.load(Ordering::SeqCst),
            3,
            "the groups ran one after the other"
        );
        let values: Vec<usize> = results.iter().map(|(v, _)| *v).collect();
        assert_eq!(values, [0, 10, 20, 30, 40]);
        let mut threads: Vec<_> = results.iter().map(|(_, t)| *t).collect();
        threads.dedup();
        assert_eq!(threads.len(), 3, "three groups, three threads");
        assert_eq!(
            threads[0],
            std::thread::current().id(),
            "the first on the caller"
        );
    }

    #[test]
    fn one_thread_or_no_items_stay_on_the_calling_thread() {
        let here = std::thread::current().id();
        let on = |threads: usize, items: &[u8]| {
            in_groups(items, threads, |group| {
                group.iter().map(|_| std::thread::current().id()).collect()
            })
        };
        assert!(on(1, &[1, 2, 3]).iter().all(|t| *t == here));
        assert!(on(4, &[]).is_empty());
        assert_eq!(on(4, &[1]), [here]);
    }

    #[test]
    fn flows_and_problems_come_back_in_the_files_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut paths = Vec::new();
        let flow = |name: &str| {
            format!(
                "name: {name}\nsteps:\n  - name: s\n    http:\n      url: http://127.0.0.1:9/\n"
            )
        };
        for (i, text) in [flow("a"), "steps: [".into(), flow("c")].iter().enumerate() {
            let path = dir.path().join(format!("{i}.yaml"));
            std::fs::write(&path, text).unwrap();
            paths.push(path);
        }
        for jobs in [1, 2, 3] {
            let loaded = load_flows(&paths, &BTreeSet::new(), jobs);
            let names: Vec<Option<String>> = loaded
                .iter()
                .map(|r| r.as_ref().ok().map(|f| f.name.clone()))
                .collect();
            assert_eq!(
                names,
                [Some("a".into()), None, Some("c".into())],
                "--jobs {jobs}"
            );
        }
    }
}
