//! Label vocabularies: enums whose variants are metric label values.
//!
//! Owner: none in particular; every module that names a fixed vocabulary
//! (a `reason`, `kind`, `protection`, ...) defines it with [`label_enum!`].
//! Invariant: a label value is written once, beside its variant; the list
//! of variants (`ALL`), the strings (`LABELS`, `as_str`) and the position
//! (`index`, no search) all come from that one definition, so they cannot
//! drift apart (STYLE.md: "lists of variants written out by hand in several
//! places").

/// Define a fieldless enum whose variants carry a label value, in the
/// manner of smoltcp's `enum_with_unknown!`:
///
/// ```
/// sipsentinel::label_enum! {
///     /// Why an entry left a table.
///     #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
///     pub enum Example {
///         Idle = "idle",
///         Full = "full",
///     }
/// }
/// assert_eq!(Example::ALL, [Example::Idle, Example::Full]);
/// assert_eq!(Example::Full.as_str(), "full");
/// assert_eq!(Example::Full.index(), 1);
/// assert_eq!(Example::LABELS, ["idle", "full"]);
/// ```
///
/// The derives are the caller's (they must include `Clone, Copy`); the
/// macro adds `COUNT`, `ALL`, `LABELS`, `as_str` and `index` (the
/// variant's position in `ALL`, a `const fn`).
#[macro_export]
macro_rules! label_enum {
    (
        $(#[$attr:meta])*
        $vis:vis enum $name:ident {
            $( $(#[$vattr:meta])* $variant:ident = $label:literal ),+ $(,)?
        }
    ) => {
        $(#[$attr])*
        $vis enum $name {
            $( $(#[$vattr])* $variant ),+
        }

        #[allow(dead_code)]
        impl $name {
            /// Number of variants.
            pub const COUNT: usize = [$($label),+].len();
            /// Every variant, in declaration order (`ALL[v.index()] == v`).
            pub const ALL: [$name; Self::COUNT] = [$($name::$variant),+];
            /// Every label value, in the order of `ALL`.
            pub const LABELS: [&'static str; Self::COUNT] = [$($label),+];
            /// The label value.
            pub const fn as_str(&self) -> &'static str {
                match self {
                    $( $name::$variant => $label ),+
                }
            }
            /// Position in `ALL` (declaration order; no search).
            pub const fn index(&self) -> usize {
                *self as usize
            }
        }

        impl $crate::label::Label for $name {
            const COUNT: usize = $name::COUNT;
            const LABELS: &'static [&'static str] = &$name::LABELS;
            fn as_str(&self) -> &'static str {
                $name::as_str(self)
            }
            fn index(&self) -> usize {
                $name::index(self)
            }
        }
    };
}

/// What [`label_enum!`] defines, for code generic over a vocabulary
/// (handle caches indexed by `index`).
pub trait Label: Copy {
    const COUNT: usize;
    const LABELS: &'static [&'static str];
    fn as_str(&self) -> &'static str;
    fn index(&self) -> usize;
}

label_enum! {
    /// `flow_evictions_total{reason}`: why a state-table entry was removed
    /// before its natural end.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum Eviction {
        DefragMemcap = "defrag_memcap",
        DefragTimeout = "defrag_timeout",
        TcpMemcap = "tcp_memcap",
        TcpCapacity = "tcp_capacity",
        TcpIdle = "tcp_idle",
        MediaCapacity = "media_capacity",
        MediaIdle = "media_idle",
        MediaProbation = "media_probation",
        EndpointsCapacity = "endpoints_capacity",
        EndpointsIdle = "endpoints_idle",
        FindingsLru = "findings_lru",
        FindingsTtl = "findings_ttl",
        CallsCapacity = "calls_capacity",
        CallsIdle = "calls_idle",
        /// A new, unrelated capture timeline began (file replay restart).
        CaptureReset = "capture_reset",
        /// The observer's linker was full (least recently seen identifier).
        LinkableCapacity = "linkable_capacity",
        /// An identifier not seen for a day was forgotten.
        LinkableIdle = "linkable_idle",
        /// A registration table was full.
        RegistrationsCapacity = "registrations_capacity",
        /// A REGISTER got no final response in time.
        RegistrationsTimeout = "registrations_timeout",
    }
}

label_enum! {
    /// `flows_active{kind}`: the worker's bounded state tables.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum FlowKind {
        IpFragments = "ip_fragments",
        TcpStreams = "tcp_streams",
        SctpPartialMessages = "sctp_partial_messages",
        MediaStreams = "media_streams",
    }
}

label_enum! {
    /// `tcp_segments_total{event}`: what stream reassembly did with a segment.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum TcpEvent {
        Segment = "segment",
        Retransmitted = "retransmitted",
        OutOfOrder = "out_of_order",
        Gap = "gap",
    }
}

label_enum! {
    /// `sip_messages_total{kind}`.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum MessageKind {
        Request = "request",
        Response = "response",
    }
}

label_enum! {
    /// `sip_messages_total{status_class}`: `1xx`..`6xx`, `other` for a code
    /// outside 100..=699, and empty for requests.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum StatusClass {
        C1xx = "1xx",
        C2xx = "2xx",
        C3xx = "3xx",
        C4xx = "4xx",
        C5xx = "5xx",
        C6xx = "6xx",
        Other = "other",
        /// Requests have no status.
        None = "",
    }
}

impl StatusClass {
    /// The class of a response status code.
    pub const fn of(code: u16) -> StatusClass {
        match code {
            100..=199 => StatusClass::C1xx,
            200..=299 => StatusClass::C2xx,
            300..=399 => StatusClass::C3xx,
            400..=499 => StatusClass::C4xx,
            500..=599 => StatusClass::C5xx,
            600..=699 => StatusClass::C6xx,
            _ => StatusClass::Other,
        }
    }
}

crate::label_enum! {
    /// `zone_sessions_total{layer}`: one definition for the metric contract
    /// and the worker that counts.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum SessionLayer {
        Signaling = "signaling",
        Media = "media",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check<T: Copy + PartialEq + std::fmt::Debug>(
        all: &[T],
        labels: &[&str],
        as_str: impl Fn(&T) -> &'static str,
        index: impl Fn(&T) -> usize,
    ) {
        assert_eq!(all.len(), labels.len());
        let mut seen = std::collections::HashSet::new();
        for (i, v) in all.iter().enumerate() {
            assert_eq!(index(v), i, "{v:?}");
            assert_eq!(as_str(v), labels[i]);
            assert!(seen.insert(labels[i]), "duplicate label {}", labels[i]);
            assert!(
                labels[i]
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                "label {:?} is not snake_case",
                labels[i]
            );
        }
    }

    #[test]
    fn vocabularies_are_consistent() {
        check(
            &Eviction::ALL,
            &Eviction::LABELS,
            Eviction::as_str,
            Eviction::index,
        );
        check(
            &FlowKind::ALL,
            &FlowKind::LABELS,
            FlowKind::as_str,
            FlowKind::index,
        );
        check(
            &TcpEvent::ALL,
            &TcpEvent::LABELS,
            TcpEvent::as_str,
            TcpEvent::index,
        );
        check(
            &MessageKind::ALL,
            &MessageKind::LABELS,
            MessageKind::as_str,
            MessageKind::index,
        );
        check(
            &StatusClass::ALL,
            &StatusClass::LABELS,
            StatusClass::as_str,
            StatusClass::index,
        );
    }

    #[test]
    fn status_classes() {
        assert_eq!(StatusClass::of(100), StatusClass::C1xx);
        assert_eq!(StatusClass::of(199), StatusClass::C1xx);
        assert_eq!(StatusClass::of(486), StatusClass::C4xx);
        assert_eq!(StatusClass::of(699), StatusClass::C6xx);
        assert_eq!(StatusClass::of(700), StatusClass::Other);
        assert_eq!(StatusClass::of(99), StatusClass::Other);
    }
}
