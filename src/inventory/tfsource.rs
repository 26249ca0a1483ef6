//! Hosts from the infrastructure layer's outputs (the loader lands in its own change).

use super::{Inventory, InventoryError};
use crate::yaml::Doc;
use serde_json::Value;
use std::path::Path;

pub fn add_from_terraform(_inv: &mut Inventory, doc: &Doc, _v: &Value, _file: &Path) -> Result<(), InventoryError> {
    Err(InventoryError { loc: doc.locate("terraform"), msg: "terraform sources are not built yet".into() })
}
