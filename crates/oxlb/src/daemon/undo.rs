//! What a daemon start (or a reload) changed, and how to put it back if a later step fails:
//! a failed command leaves nothing pinned or attached that it created, and whatever it found
//! (an earlier daemon's pinned datapath, its links, its sysctls) as it was.

/// One undo step: its name for the log, and the action.
type Step = (String, Box<dyn FnOnce() -> Result<(), String>>);

/// Undo steps, newest last; run in reverse on [`Undo::rollback`] or on drop unless
/// [`Undo::commit`]ted.
#[derive(Default)]
pub struct Undo {
    steps: Vec<Step>,
}

impl Undo {
    /// An empty journal.
    pub fn new() -> Undo {
        Undo::default()
    }

    /// Records how to undo a step just taken (`what` names it in the log).
    pub fn push(
        &mut self,
        what: impl Into<String>,
        undo: impl FnOnce() -> Result<(), String> + 'static,
    ) {
        self.steps.push((what.into(), Box::new(undo)));
    }

    /// Keeps every step: nothing is undone.
    pub fn commit(mut self) {
        self.steps.clear();
    }

    /// Undoes every step, newest first, logging each; returns how many failed.
    pub fn rollback(mut self) -> usize {
        self.run()
    }

    fn run(&mut self) -> usize {
        let mut failed = 0;
        while let Some((what, undo)) = self.steps.pop() {
            match undo() {
                Ok(()) => tracing::info!("rolled back: {what}"),
                Err(e) => {
                    failed += 1;
                    tracing::error!("could not roll back {what}: {e}");
                }
            }
        }
        failed
    }
}

impl Drop for Undo {
    fn drop(&mut self) {
        self.run();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::rc::Rc;

    #[test]
    fn undoes_newest_first_unless_committed() {
        let log = Rc::new(RefCell::new(Vec::new()));
        let mut u = Undo::new();
        for i in 0..3 {
            let log = Rc::clone(&log);
            u.push(format!("step {i}"), move || {
                log.borrow_mut().push(i);
                if i == 1 {
                    Err("refused".into())
                } else {
                    Ok(())
                }
            });
        }
        assert_eq!(u.rollback(), 1);
        assert_eq!(*log.borrow(), [2, 1, 0]);
        let mut u = Undo::new();
        let l = Rc::clone(&log);
        u.push("kept", move || {
            l.borrow_mut().push(9);
            Ok(())
        });
        u.commit();
        drop(Undo::new());
        assert_eq!(*log.borrow(), [2, 1, 0]);
    }
}
