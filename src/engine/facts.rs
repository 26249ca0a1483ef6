//! The implicit "Gathering Facts" task of a play with `gather_facts: true`.

use crate::playbook::{Origin, Play, Task, TaskKind};
use std::sync::Arc;

pub fn task(play: &Play) -> Arc<Task> {
    let def = crate::modules::lookup("setup").expect("setup is registered");
    let mut t = crate::playbook::bare_task(
        "Gathering Facts".into(),
        TaskKind::Module {
            def,
            args: serde_json::json!({}),
        },
        Arc::new(Origin {
            role: None,
            dir: std::path::PathBuf::from("."),
        }),
        play.loc.clone(),
    );
    t.tags = vec!["always".into()];
    Arc::new(t)
}
