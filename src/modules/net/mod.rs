pub mod uri;
pub mod wait_for;
