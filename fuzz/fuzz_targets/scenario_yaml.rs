//! Scenario files on arbitrary text: a scenario loads or is refused, never a
//! panic; and a step that loads passes the run-time check once its
//! placeholders are filled the way the runner fills them (the two rule sets
//! agree).
#![no_main]

use std::collections::BTreeMap;

use irprep_core::scenario::{check_call, fill, parse_scenario, Safety};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(s) = parse_scenario(text, "fuzz.yaml") else { return };
    let mut rng = irprep_core::synth::Rng::new(7);
    let vars: BTreeMap<String, String> =
        irprep_core::synth::placeholders(&mut rng, "fuzzrun", "111122223333", "us-east-1");
    let fakes: Vec<String> = vars
        .iter()
        .filter(|(k, _)| k.starts_with("nonexistent"))
        .map(|(_, v)| v.clone())
        .collect();
    for st in &s.steps {
        let mut params = fill(&st.params, &vars);
        if st.safety == Safety::DryRun {
            if let serde_json::Value::Object(m) = &mut params {
                m.insert("DryRun".into(), serde_json::Value::String("true".into()));
            } else {
                params = serde_json::json!({"DryRun": "true"});
            }
        }
        if let Err(e) = check_call(st, &params, &fakes) {
            // A value of the file may itself hold text that fill() changes
            // ({random} inside the identifier): only a refusal is allowed,
            // and it names the step.
            assert!(e.contains(&st.operation), "{e}");
        }
    }
});
