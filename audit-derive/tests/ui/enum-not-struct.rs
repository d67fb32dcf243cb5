use audit_seaorm::Audited;

#[derive(Audited)]
pub enum Model {
    A,
    B,
}

fn main() {}
