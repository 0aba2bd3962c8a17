//! The examples' enumerated flags as they declare them: `--help` lists every value each
//! takes, and a default build runs `reproduce` without `--backend`.

use clap::{CommandFactory, Parser, ValueEnum};
use lattice_vq_experiments::train::table_choice::TableChoice;
use lattice_vq_experiments::train::{BackendKind, ModelKind, Protocol, QuantizerKind};

/// The flags of `examples/reproduce.rs` and `examples/evaluate.rs` that take names, declared
/// as there.
#[derive(Debug, Parser)]
struct Flags {
    #[arg(long, value_enum)]
    table: TableChoice,
    #[arg(long, value_enum, default_value_t = BackendKind::for_this_build())]
    backend: BackendKind,
    #[arg(long, value_enum, default_value = "paper")]
    protocol: Protocol,
    #[arg(long, value_enum, default_value_t = QuantizerKind::Lattice)]
    quantizer: QuantizerKind,
    #[arg(long, value_enum)]
    model: Option<ModelKind>,
}

#[test]
fn help_lists_every_value_of_every_enumerated_flag() {
    let help = Flags::command().render_help().to_string();
    let names = |values: Vec<clap::builder::PossibleValue>| -> Vec<String> {
        values.iter().map(|v| v.get_name().to_owned()).collect()
    };
    let mut expected = names(
        TableChoice::value_variants()
            .iter()
            .filter_map(ValueEnum::to_possible_value)
            .collect(),
    );
    for values in [
        QuantizerKind::value_variants()
            .iter()
            .filter_map(ValueEnum::to_possible_value)
            .collect(),
        ModelKind::value_variants()
            .iter()
            .filter_map(ValueEnum::to_possible_value)
            .collect(),
        BackendKind::value_variants()
            .iter()
            .filter_map(ValueEnum::to_possible_value)
            .collect(),
    ] {
        expected.extend(names(values));
    }
    assert!(expected.iter().any(|name| name == "lattice-unit-init"));
    for name in expected {
        assert!(help.contains(&name), "--help lacks {name}:\n{help}");
    }
}

#[test]
fn tables_parse_by_their_names() {
    assert_eq!(TableChoice::value_variants(), TableChoice::ALL);
    for table in TableChoice::ALL {
        let parsed = Flags::try_parse_from(["reproduce", "--table", table.name()]).unwrap();
        assert_eq!(parsed.table, table);
        match table.paper() {
            Some(paper) => assert_eq!(paper.number.to_string(), table.name()),
            None => assert_eq!(table, TableChoice::Finite),
        }
    }
    let error = Flags::try_parse_from(["reproduce", "--table", "6"]).unwrap_err();
    assert!(error.to_string().contains("finite"), "{error}");
}

#[test]
fn the_default_backend_is_one_the_build_has() {
    let parsed = Flags::try_parse_from(["reproduce", "--table", "5"]).unwrap();
    let expected = if cfg!(feature = "tch") {
        BackendKind::Tch
    } else {
        BackendKind::Candle
    };
    assert_eq!(parsed.backend, expected);
    assert_eq!(parsed.model, None);
}
