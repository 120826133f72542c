//! How far long work has got, counted in images run through the network.
//!
//! The orchestrators that run the network many times (the slow attention methods, the
//! faithfulness curves, the sanity check) say how many images a task will run
//! ([`task`]) and count them as each batch finishes ([`ran`]). A caller that shows
//! progress (the page's worker) sets a [`Listener`]; without one, counting costs nothing.
//! Tasks nest: only the outermost one's total counts, so the sanity check's maps add up to
//! one bar instead of restarting it at every step; a task that ends short of its total (a
//! method that runs the network once, without batches) moves the count to where it said it
//! would end.

use std::cell::RefCell;

/// Told `(done, total)` each time a batch of images has run.
pub type Listener = Box<dyn FnMut(usize, usize)>;

#[derive(Default)]
struct Meter {
    listener: Option<Listener>,
    /// Open tasks; the outermost one sets `total`.
    depth: usize,
    done: usize,
    total: usize,
}

thread_local! {
    static METER: RefCell<Meter> = RefCell::new(Meter::default());
}

/// Listen to this thread's progress from now on (`None` stops listening).
pub fn listen(listener: Option<Listener>) {
    METER.with(|m| m.borrow_mut().listener = listener);
}

/// An open task: ends when dropped.
#[must_use = "the task ends when this is dropped"]
pub struct Task {
    /// Where the count stood when it started, and where it will stand when it ends.
    end: usize,
}

/// Start a task that will run `total` images; inside another task, the outer total stands.
pub fn task(total: usize) -> Task {
    METER.with(|m| {
        let mut m = m.borrow_mut();
        if m.depth == 0 {
            m.done = 0;
            m.total = total;
        }
        m.depth += 1;
        Task { end: m.done + total }
    })
}

impl Drop for Task {
    fn drop(&mut self) {
        let short = METER.with(|m| {
            let mut m = m.borrow_mut();
            m.depth = m.depth.saturating_sub(1);
            self.end.saturating_sub(m.done)
        });
        if short > 0 {
            ran(short);
        }
    }
}

/// `n` more images have run.
pub fn ran(n: usize) {
    // Take the listener out while it runs, so that it may not reenter the meter.
    let call = METER.with(|m| {
        let mut m = m.borrow_mut();
        m.done += n;
        let (done, total) = (m.done, m.total.max(m.done));
        m.listener.take().map(|l| (l, done, total))
    });
    if let Some((mut listener, done, total)) = call {
        listener(done, total);
        METER.with(|m| {
            m.borrow_mut().listener.get_or_insert(listener);
        });
    }
}

#[cfg(test)]
mod tests {
    use std::{cell::RefCell, rc::Rc};

    use super::*;

    #[test]
    fn the_outer_task_sets_the_total_and_every_batch_counts() {
        let seen = Rc::new(RefCell::new(Vec::new()));
        let s = seen.clone();
        listen(Some(Box::new(move |done, total| s.borrow_mut().push((done, total)))));
        {
            let _outer = task(6);
            for _ in 0..2 {
                let _inner = task(2);
                ran(1);
                ran(1);
            }
            // Run at once, without batches: its end counts it.
            let _quick = task(2);
        }
        // A later task starts again from zero; past its total, the total follows.
        let _next = task(1);
        ran(2);
        listen(None);
        ran(1);
        assert_eq!(*seen.borrow(), vec![(1, 6), (2, 6), (3, 6), (4, 6), (6, 6), (2, 2)]);
    }
}
