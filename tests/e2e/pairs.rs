//! The four pairs (written next).
