//! Dead-node removal: drops every node whose value reaches no graph output.

use super::PassReport;
use crate::error::Result;
use crate::ir::Graph;
use crate::options::Options;

pub fn run(g: &mut Graph, _options: &Options) -> Result<PassReport> {
    let mut report = PassReport::new("dead_code");
    report.changed("removed", g.remove_dead());
    Ok(report)
}
