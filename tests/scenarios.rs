//! Scenario runner (placeholder).
