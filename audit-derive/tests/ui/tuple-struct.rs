use audit_seaorm::Audited;

#[derive(Audited)]
pub struct Model(i32, String);

fn main() {}
