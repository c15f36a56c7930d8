//! Which flows a run takes, in which order, and where each one's inputs come from.
//!
//! Among the listed flows, a flow takes each input that another listed flow outputs from one
//! **provider**: the nearest flow listed before it that outputs the input, else the nearest
//! listed after it (which then runs first). An optional input is taken from one of those
//! providers when one of them outputs it, else from a provider found the same way, so that a
//! flow that signs in only when no token is at hand gets the same token in every run. Inputs given on the command line (`--var`,
//! `--env-file`) have no provider. A flow runs after its providers, otherwise in the given
//! order, and `--shard I/N` splits the flows into groups linked by providers and deals the
//! groups out (each to the shard with the fewest flows so far), so that a flow always runs
//! beside its providers and gets the same inputs whatever else runs.

use dmflow::flow::Flow;
use std::collections::BTreeSet;

/// The flows of a run in running order, and each one's providers.
pub struct Plan {
    pub flows: Vec<Flow>,
    /// For each flow: `(input, index of the provider in flows)`.
    pub providers: Vec<Vec<(String, usize)>>,
    /// The running order differs from the given one.
    pub reordered: bool,
}

impl Plan {
    /// Binds, orders and (with `shard`) keeps one shard. `given` names inputs set on the
    /// command line.
    pub fn new(flows: Vec<Flow>, given: &BTreeSet<String>, shard: Option<(usize, usize)>) -> Plan {
        let bound = bind(&flows, given);
        let order = running_order(&bound);
        let reordered = order.windows(2).any(|w| w[0] > w[1]);
        let position: Vec<usize> = {
            let mut position = vec![0; flows.len()];
            order
                .iter()
                .enumerate()
                .for_each(|(at, &i)| position[i] = at);
            position
        };
        // A binding to a flow that runs later (a cycle) is dropped: the store answers instead.
        let bound: Vec<Vec<(String, usize)>> = bound
            .into_iter()
            .enumerate()
            .map(|(i, inputs)| {
                inputs
                    .into_iter()
                    .filter(|(_, p)| position[*p] < position[i])
                    .collect()
            })
            .collect();
        let kept: Vec<bool> = match shard {
            Some((index, count)) => shard_members(&bound, &order, index, count),
            None => vec![true; flows.len()],
        };
        let order: Vec<usize> = order.into_iter().filter(|&i| kept[i]).collect();
        let mut new_index = vec![usize::MAX; flows.len()];
        order
            .iter()
            .enumerate()
            .for_each(|(at, &i)| new_index[i] = at);
        let providers = order
            .iter()
            .map(|&i| {
                bound[i]
                    .iter()
                    .map(|(name, p)| (name.clone(), new_index[*p]))
                    .collect()
            })
            .collect();
        let mut slots: Vec<Option<Flow>> = flows.into_iter().map(Some).collect();
        let flows = order
            .iter()
            .map(|&i| slots[i].take().expect("each flow once"))
            .collect();
        Plan {
            flows,
            providers,
            reordered,
        }
    }
}

/// Each flow's providers, as indexes in the given order.
fn bind(flows: &[Flow], given: &BTreeSet<String>) -> Vec<Vec<(String, usize)>> {
    let outputs: Vec<BTreeSet<&str>> = flows.iter().map(|f| f.output_names().collect()).collect();
    flows
        .iter()
        .enumerate()
        .map(|(i, flow)| {
            let outputs_it = |j: &usize, name: &str| *j != i && outputs[*j].contains(name);
            let mut bound: Vec<(String, usize)> = Vec::new();
            for input in flow.inputs.iter().filter(|x| !x.optional) {
                if given.contains(&input.name) {
                    continue;
                }
                let before = (0..i).rev().find(|j| outputs_it(j, &input.name));
                let provider =
                    before.or_else(|| (i + 1..flows.len()).find(|j| outputs_it(j, &input.name)));
                if let Some(p) = provider {
                    bound.push((input.name.clone(), p));
                }
            }
            let chosen: Vec<usize> = bound.iter().map(|(_, p)| *p).collect();
            for input in flow.inputs.iter().filter(|x| x.optional) {
                if given.contains(&input.name) {
                    continue;
                }
                let provider = chosen
                    .iter()
                    .copied()
                    .find(|j| outputs_it(j, &input.name))
                    .or_else(|| (0..i).rev().find(|j| outputs_it(j, &input.name)))
                    .or_else(|| (i + 1..flows.len()).find(|j| outputs_it(j, &input.name)));
                if let Some(p) = provider {
                    bound.push((input.name.clone(), p));
                }
            }
            bound
        })
        .collect()
}

/// The given order, except that a flow runs after its providers (in a cycle, the flow listed
/// first runs first).
fn running_order(bound: &[Vec<(String, usize)>]) -> Vec<usize> {
    let mut placed = vec![false; bound.len()];
    let mut order = Vec::with_capacity(bound.len());
    while order.len() < bound.len() {
        let ready = (0..bound.len())
            .find(|&i| !placed[i] && bound[i].iter().all(|(_, p)| placed[*p]))
            .or_else(|| (0..bound.len()).find(|&i| !placed[i]))
            .expect("a flow remains");
        placed[ready] = true;
        order.push(ready);
    }
    order
}

/// Which flows shard `index` of `count` (1-based) runs: groups of flows linked by providers,
/// in running order, each dealt to the shard with the fewest flows so far (the lowest on a
/// tie).
fn shard_members(
    bound: &[Vec<(String, usize)>],
    order: &[usize],
    index: usize,
    count: usize,
) -> Vec<bool> {
    let mut group: Vec<usize> = (0..bound.len()).collect();
    fn root(group: &mut [usize], mut i: usize) -> usize {
        while group[i] != i {
            group[i] = group[group[i]];
            i = group[i];
        }
        i
    }
    for (i, inputs) in bound.iter().enumerate() {
        for (_, p) in inputs {
            let (a, b) = (root(&mut group, i), root(&mut group, *p));
            group[a.max(b)] = a.min(b);
        }
    }
    let mut groups: Vec<(usize, Vec<usize>)> = Vec::new();
    for &i in order {
        let r = root(&mut group, i);
        match groups.iter_mut().find(|(g, _)| *g == r) {
            Some((_, members)) => members.push(i),
            None => groups.push((r, vec![i])),
        }
    }
    let mut load = vec![0usize; count];
    let mut kept = vec![false; bound.len()];
    for (_, members) in groups {
        let target = (0..count).min_by_key(|&s| (load[s], s)).expect("N > 0");
        load[target] += members.len();
        if target == index - 1 {
            members.iter().for_each(|&i| kept[i] = true);
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flow(name: &str, inputs: &[&str], optional: &[&str], outputs: &[&str]) -> Flow {
        let list = |names: &[&str]| {
            names
                .iter()
                .map(|n| format!("'{n}'"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let inputs: Vec<String> = inputs
            .iter()
            .map(|n| format!("'{n}'"))
            .chain(
                optional
                    .iter()
                    .map(|n| format!("{{ name: '{n}', optional: true }}")),
            )
            .collect();
        let saves: String = outputs
            .iter()
            .map(|n| format!("      {n}: status\n"))
            .collect();
        let yaml = format!(
            "name: {name}\ninputs: [{}]\nsteps:\n  - name: s\n    http: {{ url: 'http://127.0.0.1:9/' }}\n{}outputs: [{}]\n",
            inputs.join(", "),
            if outputs.is_empty() {
                String::new()
            } else {
                format!("    save:\n{saves}")
            },
            list(outputs),
        );
        let source = dmflow::diagnostic::Source::new(format!("{name}.yaml"), yaml);
        let (flow, problems) = dmflow::Loader::new().compile_recovering(&source);
        assert!(problems.is_empty(), "{problems:?}");
        flow.expect("the flow compiles")
    }

    /// The repository's flows, as far as inputs and outputs go, in `flows/*.yaml` order.
    fn repository() -> Vec<Flow> {
        let token = ["ACCESS_TOKEN", "REFRESH_TOKEN", "USER_ID"];
        vec![
            flow("client-credentials", &[], &[], &["ACCESS_TOKEN"]),
            flow("echo", &["ACCESS_TOKEN"], &[], &[]),
            flow("login", &[], &[], &token),
            flow("me", &["ACCESS_TOKEN"], &["REFRESH_TOKEN"], &["USER_ID"]),
            flow("password", &[], &[], &token),
            flow("refresh", &["REFRESH_TOKEN"], &[], &token),
            flow("videos", &["USER_ID"], &[], &["VIDEO_IDS"]),
        ]
    }

    fn names(plan: &Plan) -> Vec<&str> {
        plan.flows.iter().map(|f| f.name.as_str()).collect()
    }

    fn provider<'a>(plan: &'a Plan, flow: &str, input: &str) -> Option<&'a str> {
        let i = plan.flows.iter().position(|f| f.name == flow)?;
        plan.providers[i]
            .iter()
            .find(|(n, _)| n == input)
            .map(|(_, p)| plan.flows[*p].name.as_str())
    }

    #[test]
    fn each_input_comes_from_the_nearest_flow_before() {
        let plan = Plan::new(repository(), &BTreeSet::new(), None);
        assert_eq!(
            names(&plan),
            [
                "client-credentials",
                "echo",
                "login",
                "me",
                "password",
                "refresh",
                "videos"
            ]
        );
        assert!(!plan.reordered);
        assert_eq!(
            provider(&plan, "echo", "ACCESS_TOKEN"),
            Some("client-credentials")
        );
        assert_eq!(provider(&plan, "me", "ACCESS_TOKEN"), Some("login"));
        assert_eq!(
            provider(&plan, "me", "REFRESH_TOKEN"),
            Some("login"),
            "optional: from the same provider"
        );
        assert_eq!(
            provider(&plan, "refresh", "REFRESH_TOKEN"),
            Some("password")
        );
        assert_eq!(provider(&plan, "videos", "USER_ID"), Some("refresh"));
    }

    #[test]
    fn an_optional_input_alone_finds_its_provider_too() {
        let flows = vec![
            flow("login", &[], &[], &["ACCESS_TOKEN"]),
            flow("mine", &[], &["ACCESS_TOKEN"], &[]),
            flow("app", &[], &[], &["ACCESS_TOKEN"]),
            flow("early", &[], &["USER_ID"], &[]),
            flow("me", &["ACCESS_TOKEN"], &[], &["USER_ID"]),
        ];
        let plan = Plan::new(flows, &BTreeSet::new(), None);
        assert_eq!(provider(&plan, "mine", "ACCESS_TOKEN"), Some("login"));
        assert_eq!(
            provider(&plan, "early", "USER_ID"),
            Some("me"),
            "none before: the nearest after, which runs first"
        );
        assert_eq!(names(&plan), ["login", "mine", "app", "me", "early"]);
    }

    #[test]
    fn shards_keep_providers_together_and_cover_every_flow_once() {
        let shard = |i| names(&Plan::new(repository(), &BTreeSet::new(), Some((i, 3)))).join(" ");
        assert_eq!(shard(1), "client-credentials echo");
        assert_eq!(shard(2), "login me");
        assert_eq!(shard(3), "password refresh videos");
        let two = |i| {
            Plan::new(repository(), &BTreeSet::new(), Some((i, 2)))
                .flows
                .len()
        };
        assert_eq!(two(1) + two(2), 7);
    }

    #[test]
    fn a_provider_listed_later_runs_first() {
        let flows = vec![
            flow("videos", &["USER_ID"], &[], &[]),
            flow("me", &["ACCESS_TOKEN"], &[], &["USER_ID"]),
            flow("login", &[], &[], &["ACCESS_TOKEN", "USER_ID"]),
        ];
        let plan = Plan::new(flows, &BTreeSet::new(), None);
        assert_eq!(names(&plan), ["login", "me", "videos"]);
        assert!(plan.reordered);
        assert_eq!(provider(&plan, "videos", "USER_ID"), Some("me"));
    }

    #[test]
    fn inputs_set_on_the_command_line_have_no_provider() {
        let given = BTreeSet::from(["ACCESS_TOKEN".to_string()]);
        let plan = Plan::new(repository(), &given, Some((1, 7)));
        assert_eq!(provider(&plan, "echo", "ACCESS_TOKEN"), None);
        assert_eq!(
            names(&plan),
            ["client-credentials"],
            "echo is on its own now"
        );
    }

    #[test]
    fn a_cycle_keeps_the_given_order_and_drops_the_late_binding() {
        let flows = vec![
            flow("a", &["FROM_B"], &[], &["FROM_A"]),
            flow("b", &["FROM_A"], &[], &["FROM_B"]),
        ];
        let plan = Plan::new(flows, &BTreeSet::new(), None);
        assert_eq!(names(&plan), ["a", "b"]);
        assert_eq!(provider(&plan, "a", "FROM_B"), None);
        assert_eq!(provider(&plan, "b", "FROM_A"), Some("a"));
    }
}
