use std::collections::HashSet;
use std::num::NonZeroUsize;
use std::sync::Mutex;

use super::*;

fn threads(n: usize) -> Parallelism {
    Parallelism::new(NonZeroUsize::new(n).unwrap_or(NonZeroUsize::MIN))
}

#[test]
fn results_come_back_in_input_order_whatever_the_thread_count() {
    // Uneven work, so that threads finish out of order.
    let items: Vec<u64> = (0..500).map(|i| (i * 7919) % 1000).collect();
    let work = |&n: &u64| (0..n).fold(n, |acc, k| acc.wrapping_mul(31).wrapping_add(k));
    let sequential: Vec<u64> = items.iter().map(work).collect();
    for n in [1, 2, 3, 8, 1000] {
        assert_eq!(threads(n).map(&items, work), sequential, "{n} threads");
    }
}

#[test]
fn no_item_and_one_item_are_handled_on_the_calling_thread() {
    let caller = std::thread::current().id();
    let empty: Vec<u8> = Vec::new();
    assert!(threads(4).map(&empty, |&b| b).is_empty());
    let on = threads(4).map(&[1], |_| std::thread::current().id());
    assert_eq!(on, vec![caller]);
    let on = Parallelism::SEQUENTIAL.map(&[1, 2, 3], |_| std::thread::current().id());
    assert!(on.iter().all(|&id| id == caller));
}

#[test]
fn never_more_threads_than_asked_for() {
    let seen = Mutex::new(HashSet::new());
    let items: Vec<usize> = (0..200).collect();
    threads(3).map(&items, |_| {
        // Long enough that every thread gets some items.
        std::thread::sleep(std::time::Duration::from_micros(50));
        seen.lock()
            .map(|mut seen| seen.insert(std::thread::current().id()))
            .unwrap_or_default()
    });
    let seen = seen.lock().map(|seen| seen.len()).unwrap_or_default();
    assert!((1..=3).contains(&seen), "{seen} threads");
}

#[test]
fn a_panic_in_the_work_reaches_the_caller_with_its_message() {
    let items: Vec<usize> = (0..64).collect();
    let outcome = std::panic::catch_unwind(|| {
        threads(4).map(&items, |&i| {
            if i == 37 {
                panic!("item {i} failed");
            }
            i
        })
    });
    let payload = match outcome {
        Ok(_) => panic!("the panic was lost"),
        Err(payload) => payload,
    };
    let message = payload
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert_eq!(message, "item 37 failed");
}

#[test]
fn available_parallelism_is_at_least_one_thread() {
    assert!(Parallelism::available().threads() >= 1);
    assert_eq!(Parallelism::default(), Parallelism::available());
    assert_eq!(Parallelism::SEQUENTIAL.threads(), 1);
}
