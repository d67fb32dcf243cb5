use audit_seaorm::Audited;

#[derive(Audited)]
#[audit(subject = "thing")]
pub struct Model<T> {
    pub id: T,
}

fn main() {}
