//! Native ports (placeholder).
