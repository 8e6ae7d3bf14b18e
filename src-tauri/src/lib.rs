//! Placeholder: filled by the app issue.
