//! Progress as an async stream: an [`EventSink`] backed by a tokio channel, whose receiving end
//! is a [`futures_core::Stream`] of [`RunEvent`]s, for a service that forwards a run's progress
//! (to server-sent events, a websocket, a log) without polling.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;
use iu_cutter_phase_core::{EventSink, RunEvent};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

/// A sink and the stream of the events emitted into it. The stream ends when the sink and every
/// clone of it are dropped (the runner drops its options when the invocation returns).
///
/// The channel is unbounded: emitting never blocks the run (as [`EventSink`] requires), so a
/// consumer that stops reading holds the events in memory; a run emits a few events per phase
/// and one per batch.
pub fn event_stream() -> (StreamSink, EventStream) {
    let (sender, receiver) = unbounded_channel();
    (StreamSink { sender }, EventStream { receiver })
}

/// The sending half of [`event_stream`]: give it to [`crate::RunOptions::with_events`].
#[derive(Clone, Debug)]
pub struct StreamSink {
    sender: UnboundedSender<RunEvent>,
}

impl EventSink for StreamSink {
    fn emit(&self, event: RunEvent) {
        // A stream that was dropped only means nobody listens any more.
        let _ = self.sender.send(event);
    }
}

/// The receiving half of [`event_stream`]: the run's events in the order they were emitted.
#[derive(Debug)]
pub struct EventStream {
    receiver: UnboundedReceiver<RunEvent>,
}

impl EventStream {
    /// The next event; `None` once every sink is dropped and the events are read.
    pub async fn next(&mut self) -> Option<RunEvent> {
        self.receiver.recv().await
    }
}

impl Stream for EventStream {
    type Item = RunEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<RunEvent>> {
        self.receiver.poll_recv(cx)
    }
}

#[cfg(test)]
mod tests {
    use std::future::poll_fn;
    use std::pin::Pin;

    use futures_core::Stream;
    use iu_cutter_live_execution::RunId;
    use iu_cutter_phase_core::{EventSink, RunEvent};

    use super::event_stream;

    fn started(run: &str) -> RunEvent {
        RunEvent::RunStarted {
            run: RunId::new(run),
        }
    }

    #[tokio::test]
    async fn the_stream_yields_every_event_in_order_then_ends_with_its_sinks() {
        let (sink, mut stream) = event_stream();
        let clone = sink.clone();
        sink.emit(started("a"));
        clone.emit(started("b"));
        drop(sink);
        let first = poll_fn(|cx| Pin::new(&mut stream).poll_next(cx)).await;
        assert_eq!(first, Some(started("a")));
        assert_eq!(stream.next().await, Some(started("b")));
        drop(clone);
        assert_eq!(stream.next().await, None);
    }

    #[tokio::test]
    async fn a_dropped_stream_does_not_fail_the_sink() {
        let (sink, stream) = event_stream();
        drop(stream);
        sink.emit(started("a"));
    }
}
