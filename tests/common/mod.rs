pub mod media;
pub mod netns;
pub mod sipp;
