//! overlay-auth
