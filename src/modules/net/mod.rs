pub mod wait_for;
