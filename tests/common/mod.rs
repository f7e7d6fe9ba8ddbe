pub mod netns;
pub mod sipp;
