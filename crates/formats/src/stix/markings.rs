//! TLP as STIX marking definitions (stix-taxii-reference A.7): what MISP's `tlp:*` tags
//! become on export, and which marking objects mean which TLP level on import — STIX's
//! built-in TLP 1.0 definitions, the OASIS TLP 2.0 extension, and OpenCTI's statement
//! markings for TLP:CLEAR and TLP:AMBER+STRICT.

use serde_json::{Value, json};

/// The TLP 2.0 extension definition of OASIS's common objects.
pub const TLP2_EXTENSION_ID: &str = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d";

/// One TLP level: the MISP tag, and the marking definition we emit for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TlpMarking {
    /// The MISP tag, lower-case (`tlp:amber+strict`).
    pub tag: &'static str,
    /// The marking-definition id we emit (misp-stix's choice: TLP 1.0 where it has the
    /// colour, TLP 2.0 for clear and amber+strict).
    pub id: &'static str,
    /// The marking-definition object itself.
    definition: Definition,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Definition {
    /// STIX 2.1's built-in TLP 1.0 object: `definition_type: tlp`.
    Tlp1 { colour: &'static str },
    /// OASIS TLP 2.0: a property extension naming the level.
    Tlp2 {
        level: &'static str,
        name: &'static str,
    },
}

/// TLP 1.0 marking ids (built into STIX 2.1).
const TLP1_WHITE: &str = "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9";
const TLP1_GREEN: &str = "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da";
const TLP1_AMBER: &str = "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82";
const TLP1_RED: &str = "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed";
/// TLP 2.0 marking ids (OASIS common objects).
const TLP2_CLEAR: &str = "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487";
const TLP2_GREEN: &str = "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb";
const TLP2_AMBER: &str = "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421";
const TLP2_AMBER_STRICT: &str = "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003";
const TLP2_RED: &str = "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1";

/// What we emit per MISP TLP tag.
pub const TLP_MARKINGS: &[TlpMarking] = &[
    TlpMarking {
        tag: "tlp:white",
        id: TLP1_WHITE,
        definition: Definition::Tlp1 { colour: "white" },
    },
    TlpMarking {
        tag: "tlp:clear",
        id: TLP2_CLEAR,
        definition: Definition::Tlp2 {
            level: "clear",
            name: "TLP:CLEAR",
        },
    },
    TlpMarking {
        tag: "tlp:green",
        id: TLP1_GREEN,
        definition: Definition::Tlp1 { colour: "green" },
    },
    TlpMarking {
        tag: "tlp:amber",
        id: TLP1_AMBER,
        definition: Definition::Tlp1 { colour: "amber" },
    },
    TlpMarking {
        tag: "tlp:amber+strict",
        id: TLP2_AMBER_STRICT,
        definition: Definition::Tlp2 {
            level: "amber+strict",
            name: "TLP:AMBER+STRICT",
        },
    },
    TlpMarking {
        tag: "tlp:red",
        id: TLP1_RED,
        definition: Definition::Tlp1 { colour: "red" },
    },
];

impl TlpMarking {
    /// The marking for a MISP tag (`tlp:AMBER` works too), if it is a TLP tag we map.
    pub fn for_tag(tag: &str) -> Option<&'static TlpMarking> {
        let tag = tag.trim().to_ascii_lowercase();
        TLP_MARKINGS.iter().find(|marking| marking.tag == tag)
    }

    /// The marking-definition object to put in a bundle.
    pub fn definition(&self) -> Value {
        match self.definition {
            Definition::Tlp1 { colour } => json!({
                "type": "marking-definition",
                "spec_version": "2.1",
                "id": self.id,
                "created": "2017-01-20T00:00:00.000Z",
                "definition_type": "tlp",
                "name": format!("TLP:{}", colour.to_ascii_uppercase()),
                "definition": {"tlp": colour},
            }),
            Definition::Tlp2 { level, name } => json!({
                "type": "marking-definition",
                "spec_version": "2.1",
                "id": self.id,
                "created": "2022-10-01T00:00:00.000Z",
                "name": name,
                "extensions": {
                    TLP2_EXTENSION_ID: {
                        "extension_type": "property-extension",
                        "tlp_2_0": level,
                    }
                },
            }),
        }
    }
}

/// The MISP tag a marking reference stands for, from its id alone: the TLP 1.0 and 2.0
/// well-known ids.
pub fn tag_for_marking_id(id: &str) -> Option<&'static str> {
    Some(match id {
        TLP1_WHITE => "tlp:white",
        TLP1_GREEN | TLP2_GREEN => "tlp:green",
        TLP1_AMBER | TLP2_AMBER => "tlp:amber",
        TLP1_RED | TLP2_RED => "tlp:red",
        TLP2_CLEAR => "tlp:clear",
        TLP2_AMBER_STRICT => "tlp:amber+strict",
        _ => return None,
    })
}

/// The MISP tag a marking-definition object stands for: TLP 1.0 (`definition_type: tlp`),
/// TLP 2.0 (the extension), OpenCTI's statements (`x_opencti_definition: "TLP:CLEAR"`), or
/// a PAP marking written the OpenCTI way. None for statements and unknown markings.
pub fn tag_for_marking(definition: &Value) -> Option<String> {
    if let Some(id) = definition.get("id").and_then(Value::as_str)
        && let Some(tag) = tag_for_marking_id(id)
    {
        return Some(tag.to_string());
    }
    if definition.get("definition_type").and_then(Value::as_str) == Some("tlp")
        && let Some(colour) = definition["definition"]["tlp"].as_str()
    {
        return Some(format!("tlp:{}", colour.to_ascii_lowercase()));
    }
    if let Some(level) = definition["extensions"][TLP2_EXTENSION_ID]["tlp_2_0"].as_str() {
        return Some(format!("tlp:{}", level.to_ascii_lowercase()));
    }
    let opencti_type = definition
        .get("x_opencti_definition_type")
        .and_then(Value::as_str)
        .map(str::to_ascii_uppercase);
    if let (Some(kind), Some(name)) = (
        opencti_type,
        definition
            .get("x_opencti_definition")
            .and_then(Value::as_str),
    ) && (kind == "TLP" || kind == "PAP")
    {
        let name = name.trim().to_ascii_lowercase();
        if name.starts_with("tlp:") || name.starts_with("pap:") {
            return Some(name);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_emitted_marking_reads_back_as_its_tag() {
        for marking in TLP_MARKINGS {
            assert_eq!(
                tag_for_marking(&marking.definition()).as_deref(),
                Some(marking.tag)
            );
            assert_eq!(
                TlpMarking::for_tag(&marking.tag.to_ascii_uppercase()),
                Some(marking)
            );
        }
    }

    #[test]
    fn tlp2_and_opencti_markings_are_recognised() {
        let tlp2_amber = json!({"type": "marking-definition", "id": "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421"});
        assert_eq!(tag_for_marking(&tlp2_amber).as_deref(), Some("tlp:amber"));
        let opencti = json!({
            "type": "marking-definition",
            "id": "marking-definition--4cdff7eb-acb8-543f-8573-829eb9fe8b34",
            "definition_type": "statement",
            "definition": {"statement": "custom"},
            "x_opencti_definition_type": "TLP",
            "x_opencti_definition": "TLP:AMBER+STRICT",
        });
        assert_eq!(
            tag_for_marking(&opencti).as_deref(),
            Some("tlp:amber+strict")
        );
        let statement = json!({"type": "marking-definition", "id": "marking-definition--4cdff7eb-acb8-543f-8573-829eb9fe8b35", "definition_type": "statement", "definition": {"statement": "Copyright"}});
        assert_eq!(tag_for_marking(&statement), None);
    }
}
