use audit_seaorm::Audited;

#[derive(Audited)]
pub struct Model;

fn main() {}
