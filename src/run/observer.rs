//! Told about a run's progress as it happens, so the terminal shows it live while reports are
//! built from the results.

use super::context::Notes;
use super::result::StepResult;
use crate::flow::model::{Flow, Step};

/// Every method has a default that does nothing.
pub trait Observer: Sync {
    fn flow_started(&self, _flow: &Flow) {}
    /// A flow has ended (a sub-flow included). Called for every flow the engine runs.
    fn flow_ended(&self, _flow: &Flow, _result: &super::result::FlowResult) {}
    fn step_started(&self, _flow: &Flow, _step: &Step) {}
    /// A line to show now (the sign-in URL).
    fn note(&self, _flow: &Flow, _note: &str) {}
    /// A step starts waiting for someone (the user in the browser); shown as a spinner.
    fn wait_started(&self, _flow: &Flow, _message: &str) {}
    fn wait_finished(&self, _flow: &Flow) {}
    /// Bytes moved so far by a large transfer (a progress bar on a terminal).
    fn progress(&self, _flow: &Flow, _label: &str, _done: u64, _total: Option<u64>) {}
    fn progress_finished(&self, _flow: &Flow) {}
    /// `step` is `None` for steps dmflow adds itself (an automatic refresh).
    fn step_finished(&self, _flow: &Flow, _step: Option<&Step>, _result: &StepResult) {}
}

/// An observer that shows nothing.
pub struct Quiet;

impl Observer for Quiet {}

/// An observer seen through the narrow [`Notes`] that step kinds get.
pub struct FlowNotes<'a> {
    pub observer: &'a dyn Observer,
    pub flow: &'a Flow,
}

impl Notes for FlowNotes<'_> {
    fn note(&self, text: &str) {
        self.observer.note(self.flow, text);
    }
    fn wait_started(&self, message: &str) {
        self.observer.wait_started(self.flow, message);
    }
    fn wait_finished(&self) {
        self.observer.wait_finished(self.flow);
    }
    fn progress(&self, label: &str, done: u64, total: Option<u64>) {
        self.observer.progress(self.flow, label, done, total);
    }
    fn progress_finished(&self) {
        self.observer.progress_finished(self.flow);
    }
}
