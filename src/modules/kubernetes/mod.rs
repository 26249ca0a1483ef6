//! The Kubernetes layer on a node: kubelet flags through systemd drop-ins, and
//! static-pod manifests for the control plane.

mod manifest_yaml;
pub mod static_pod;
pub mod systemd_dropin;

use serde::{Deserialize, Deserializer};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PresentAbsent {
    #[default]
    Present,
    Absent,
}

pub(crate) fn present_or_absent<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<PresentAbsent, D::Error> {
    match String::deserialize(d)?.as_str() {
        "present" => Ok(PresentAbsent::Present),
        "absent" => Ok(PresentAbsent::Absent),
        other => Err(serde::de::Error::custom(format!(
            "state must be present or absent, not {other:?}"
        ))),
    }
}
