use super::*;
use crate::plan::moves::open_slots;
use crate::topology::fixtures::{Fixture, fixture_id};

fn counts(entries: &[(u16, usize, u64)]) -> KeyCounts {
    let mut k = KeyCounts::new();
    for (slot, node, n) in entries {
        k.entry(*slot).or_default().insert(fixture_id(*node), *n);
    }
    k
}

#[test]
fn nodes_that_came_back_at_new_addresses_are_found_with_who_lists_them_stale() {
    let mut view = Fixture::healthy(3, 0).view();
    // Node 2 now answers at 127.0.0.9; nodes 0 and 1 still list 127.0.0.1:7002.
    view.reports[2].endpoint = Endpoint::new("127.0.0.9", 7002);
    for line in &mut view.reports[2].nodes {
        if line.flags.myself {
            line.addr.ip = "127.0.0.9".into();
        }
    }
    let stale = stale_addresses(&view);
    assert_eq!(stale.len(), 1);
    assert_eq!(stale[0].id, fixture_id(2));
    assert_eq!(stale[0].current, Endpoint::new("127.0.0.9", 7002));
    assert_eq!(stale[0].seen_by, vec![fixture_id(0), fixture_id(1)]);
}

#[test]
fn an_uncovered_slot_goes_to_its_only_key_holder_or_the_least_loaded_master() {
    let view = Fixture::healthy(3, 0).uncover(5).uncover(6).view();
    let uncovered = SlotSet::from_iter([5, 6]);
    let fixes = plan_slot_fixes(
        &view,
        &OpenSlots::default(),
        &uncovered,
        &counts(&[(5, 2, 7)]),
    );
    assert!(matches!(&fixes[0], SlotFix::Assign { slot: 5, to, .. } if *to == fixture_id(2)));
    assert!(matches!(&fixes[1], SlotFix::Assign { slot: 6, to, .. } if *to == fixture_id(0)));
    assert_eq!(
        fixes[0].to_string(),
        "slot 5: assign it to 02aaaaaa (it is the only master holding keys in it (7))"
    );
}

/// The merge `fix` plans for `slot`: `owner` keeps it, the keys of `from` move there.
fn merge(
    slot: u16,
    owner: usize,
    claim: bool,
    from: &[(usize, u64)],
    marked: &[usize],
    reason: &str,
) -> SlotFix {
    SlotFix::Merge {
        slot,
        owner: fixture_id(owner),
        claim,
        from: from.iter().map(|(i, n)| (fixture_id(*i), *n)).collect(),
        marked: marked.iter().map(|i| fixture_id(*i)).collect(),
        reason: reason.into(),
    }
}

#[test]
fn an_uncovered_slot_with_keys_on_two_masters_is_merged_on_the_one_with_more_keys() {
    let view = Fixture::healthy(3, 0).uncover(5).view();
    let fixes = plan_slot_fixes(
        &view,
        &OpenSlots::default(),
        &SlotSet::from_iter([5]),
        &counts(&[(5, 0, 3), (5, 1, 4)]),
    );
    assert_eq!(
        fixes,
        vec![merge(
            5,
            1,
            true,
            &[(0, 3)],
            &[],
            "no master serves it; 01aaaaaa holds the most keys in it (4)"
        )]
    );
    assert_eq!(
        fixes[0].to_string(),
        "slot 5: give it to 01aaaaaa, then merge the keys of 00aaaaaa (3 keys) into 01aaaaaa \
         (no master serves it; 01aaaaaa holds the most keys in it (4))"
    );
}

#[test]
fn a_tie_in_keys_goes_to_the_lowest_node_id() {
    let view = Fixture::healthy(3, 0).uncover(5).view();
    let fixes = plan_slot_fixes(
        &view,
        &OpenSlots::default(),
        &SlotSet::from_iter([5]),
        &counts(&[(5, 2, 4), (5, 1, 4)]),
    );
    assert_eq!(
        fixes,
        vec![merge(
            5,
            1,
            true,
            &[(2, 4)],
            &[],
            "no master serves it; 01aaaaaa holds the most keys in it \
             (4, as many as 02aaaaaa; the lowest node id wins)"
        )]
    );
}

#[test]
fn an_open_slot_with_keys_on_the_migrating_the_importing_and_a_third_master_is_merged_on_its_owner()
{
    // Node 0 owns slot 10 and migrates it to node 1, but node 2 imports it; all three hold
    // keys in it. The owner keeps it, although node 0 does not hold the most keys.
    let view = Fixture::healthy(3, 0)
        .with(0, |n| n.migrating = vec![(10, 1)])
        .with(2, |n| n.importing = vec![(10, 0)])
        .view();
    let open = open_slots(&view);
    let fixes = plan_slot_fixes(
        &view,
        &open,
        &SlotSet::new(),
        &counts(&[(10, 0, 3), (10, 1, 2), (10, 2, 5)]),
    );
    assert_eq!(
        fixes,
        vec![merge(
            10,
            0,
            false,
            &[(1, 2), (2, 5)],
            &[0, 2],
            "00aaaaaa migrates it to 01aaaaaa but 02aaaaaa imports it from 00aaaaaa; \
             the cluster says 00aaaaaa owns it (3 of 3 nodes)"
        )]
    );
    assert_eq!(
        fixes[0].to_string(),
        "slot 10: merge the keys of 01aaaaaa (2 keys), 02aaaaaa (5 keys) into 00aaaaaa, \
         clear the marks on 00aaaaaa, 02aaaaaa (00aaaaaa migrates it to 01aaaaaa but \
         02aaaaaa imports it from 00aaaaaa; the cluster says 00aaaaaa owns it (3 of 3 nodes))"
    );
}

#[test]
fn a_resumable_move_with_keys_on_a_third_master_is_merged_instead_of_finished() {
    let view = Fixture::healthy(4, 0)
        .with(0, |n| n.migrating = vec![(10, 1)])
        .with(1, |n| n.importing = vec![(10, 0)])
        .view();
    let open = open_slots(&view);
    assert_eq!(open.resume.len(), 1);
    let fixes = plan_slot_fixes(
        &view,
        &open,
        &SlotSet::new(),
        &counts(&[(10, 0, 5), (10, 1, 2), (10, 3, 4)]),
    );
    assert_eq!(
        fixes,
        vec![merge(
            10,
            0,
            false,
            &[(1, 2), (3, 4)],
            &[0, 1],
            "00aaaaaa moves it to 01aaaaaa, but keys are also on 03aaaaaa (4 keys); \
             the cluster says 00aaaaaa owns it (4 of 4 nodes)"
        )]
    );
    // Without the third master's keys it is an ordinary interrupted move.
    let fixes = plan_slot_fixes(
        &view,
        &open,
        &SlotSet::new(),
        &counts(&[(10, 0, 5), (10, 1, 2)]),
    );
    assert_eq!(fixes, vec![SlotFix::Resume(open.resume[0].clone())]);
}

#[test]
fn a_merge_killed_after_the_owner_claimed_the_slot_is_merged_again_on_the_same_owner() {
    // What a killed merge leaves: node 0 owns slot 5; node 1 still holds keys in it and
    // has it open as importing from node 0, which is not migrating it.
    let view = Fixture::healthy(3, 0)
        .with(1, |n| n.importing = vec![(5, 0)])
        .view();
    let open = open_slots(&view);
    let fixes = plan_slot_fixes(
        &view,
        &open,
        &SlotSet::new(),
        &counts(&[(5, 0, 4), (5, 1, 3)]),
    );
    assert_eq!(
        fixes,
        vec![merge(
            5,
            0,
            false,
            &[(1, 3)],
            &[1],
            "01aaaaaa imports it from 00aaaaaa and holds 3 keys in it, but 00aaaaaa is not \
             migrating it; the cluster says 00aaaaaa owns it (3 of 3 nodes)"
        )]
    );
}

#[test]
fn without_an_owner_the_master_migrating_the_slot_keeps_it() {
    // Nobody serves slot 5, but node 0 still marks it migrating to node 1.
    let view = Fixture::healthy(3, 0)
        .uncover(5)
        .with(0, |n| n.migrating = vec![(5, 1)])
        .view();
    let open = open_slots(&view);
    let fixes = plan_slot_fixes(
        &view,
        &open,
        &SlotSet::from_iter([5]),
        &counts(&[(5, 0, 2), (5, 1, 7)]),
    );
    assert_eq!(
        fixes,
        vec![merge(
            5,
            0,
            true,
            &[(1, 7)],
            &[0],
            "00aaaaaa moves it to 01aaaaaa, but no master serves it; 00aaaaaa is migrating it"
        )]
    );
}

#[test]
fn spread_and_uncovered_slots_are_refused_while_a_master_is_unreachable() {
    let view = Fixture::healthy(4, 0)
        .uncover(5)
        .uncover(6)
        .with(3, |n| n.reachable = false)
        .view();
    let fixes = plan_slot_fixes(
        &view,
        &OpenSlots::default(),
        &SlotSet::from_iter([5, 6]),
        &counts(&[(5, 0, 3), (5, 1, 4)]),
    );
    assert!(
        fixes.iter().all(|f| matches!(f, SlotFix::Refuse { .. })),
        "{fixes:?}"
    );
    assert_eq!(
        fixes[0].to_string(),
        "slot 5: cannot fix safely: no master serves it, and master 127.0.0.1:7003 \
         (03aaaaaa) is unreachable: its keys cannot be counted; bring it back (or forget it) \
         and run fix again"
    );
}

#[test]
fn a_stray_mark_is_cleared_when_the_owner_holds_every_key() {
    // Node 2 imports slot 0 from node 1, which does not own it: stuck.
    let view = Fixture::healthy(3, 0)
        .with(2, |n| n.importing = vec![(0, 1)])
        .view();
    let open = open_slots(&view);
    assert_eq!(open.stuck.len(), 1);
    let fixes = plan_slot_fixes(&view, &open, &SlotSet::new(), &counts(&[(0, 0, 12)]));
    assert_eq!(
        fixes,
        vec![SlotFix::Stabilize {
            slot: 0,
            nodes: vec![fixture_id(2)],
            reason: "00aaaaaa owns it and holds all 12 of its keys".into()
        }]
    );
    // A key on the importing node too: it is merged on the owner instead.
    let merged = plan_slot_fixes(
        &view,
        &open,
        &SlotSet::new(),
        &counts(&[(0, 0, 12), (0, 2, 1)]),
    );
    assert_eq!(
        merged,
        vec![merge(
            0,
            0,
            false,
            &[(2, 1)],
            &[2],
            "02aaaaaa imports it from 01aaaaaa, which does not own it; \
             the cluster says 00aaaaaa owns it (3 of 3 nodes)"
        )]
    );
}
