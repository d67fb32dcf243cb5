use audit_seaorm::Audited;

#[derive(Audited)]
#[audit(subject = "post")]
pub struct Model {
    pub id: i32,
    pub title: String,
}

fn main() {}
