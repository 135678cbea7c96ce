use protocol_core::Protocol;

mod hex {
    pub fn serialize<S: serde::Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(v)
    }
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        <Vec<u8> as serde::Deserialize>::deserialize(d)
    }
}

#[derive(Protocol)]
enum Msg {
    Blob {
        #[serde(with = "hex")]
        data: Vec<u8>,
    },
}

fn main() {}
