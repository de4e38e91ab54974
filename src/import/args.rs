//! `doorstep import` options.

use clap::{Args, Subcommand, ValueEnum};
use std::path::PathBuf;

/// What the input files are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// UCI CalIt2 building people counts: `flow,MM/DD/YY,HH:MM:SS,count`, flow 9 = in,
    /// 7 = out, each row the previous 30 minutes (door readings).
    Calit2,
    /// UCI Occupancy Detection: minute rows with an `Occupancy` label 0/1 (presence readings).
    UciOccupancy,
    /// UCI Room Occupancy Estimation: `Date,Time,…,Room_Occupancy_Count` (count readings).
    UciRoomEstimation,
    /// Any CSV export, with the column mapping given by --time-column and one of
    /// --in/--out, --in-total/--out-total, --count, --presence.
    Csv,
    /// Milesight VS13x JSON payloads, one a line (DEVICES.md "Vendor payloads").
    MilesightVs13x,
    /// Milesight VS121 region people counting JSON, one a line (count readings).
    MilesightVs121,
}

impl ImportArgs {
    /// `--format` (clap requires it unless a subcommand is given).
    pub fn format(&self) -> Format {
        self.format.unwrap_or(Format::Csv)
    }
}

impl Format {
    /// The name given on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Format::Calit2 => "calit2",
            Format::UciOccupancy => "uci-occupancy",
            Format::UciRoomEstimation => "uci-room-estimation",
            Format::Csv => "csv",
            Format::MilesightVs13x => "milesight-vs13x",
            Format::MilesightVs121 => "milesight-vs121",
        }
    }
}

/// Where the data directory and the registry are.
#[derive(Debug, Args)]
pub struct DataArgs {
    /// The config file: its data_dir, registry and [stream] settings are used
    /// (default: ./doorstep.toml when there is one).
    #[arg(long, short, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The data directory to write the tables to (default: the config's data_dir).
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// The registry with the room (default: the config's).
    #[arg(long, value_name = "FILE")]
    pub registry: Option<PathBuf>,
}

/// `doorstep import list` and `doorstep import remove`.
#[derive(Debug, Subcommand)]
pub enum ImportAction {
    /// List the import batches of the data directory: name, when, what, how many rows.
    List {
        #[command(flatten)]
        at: DataArgs,
    },
    /// Remove an import batch: its readings and rejections are deleted and its
    /// site's tables recomputed without them.
    Remove {
        /// The batch's name (or tag), as `doorstep import list` shows it.
        name: String,
        #[command(flatten)]
        at: DataArgs,
    },
}

/// `doorstep import`.
#[derive(Debug, Args)]
#[command(
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true,
    after_help = "Examples:\n  \
    doorstep import --registry config/datasets.toml --data imported --format calit2 \\\n    \
      --site uci-calit2 --room main-entrance tests/data/calit2/CalIt2.data\n  \
    doorstep import --config doorstep.toml --format csv --device hall-door \\\n    \
      --time-column Time --time-format '%d/%m/%Y %H:%M' --in-total In --out-total Out export.csv\n  \
    doorstep import list --config doorstep.toml\n  \
    doorstep import remove export.csv-1a2b3c4d --config doorstep.toml\n\n\
    Each import is a batch, named after its files (or --name). Importing the same files\n\
    again, even with other options, replaces that batch instead of adding to it.\n\
    A row that cannot be read is kept in quarantine with its line and the rest goes on\n\
    (--strict stops instead); more than --max-rejected rejected rows writes nothing and\n\
    exits with an error. It refuses to run while a `doorstep run` uses the same data directory."
)]
pub struct ImportArgs {
    /// List or remove batches instead of importing.
    #[command(subcommand)]
    pub action: Option<ImportAction>,
    /// What the files are.
    #[arg(long, value_enum, value_name = "FORMAT", required = true)]
    pub format: Option<Format>,
    /// The site (its id) of the room to bind the data to, with --room.
    #[arg(long, value_name = "ID", requires = "room", conflicts_with = "device")]
    pub site: Option<String>,
    /// The room (its id within --site): the data goes to its device of the right kind.
    #[arg(long, value_name = "ID", requires = "site")]
    pub room: Option<String>,
    /// The device (its id) the data is from, instead of --site/--room.
    #[arg(long, value_name = "ID", required_unless_present = "room")]
    pub device: Option<String>,
    #[command(flatten)]
    pub at: DataArgs,
    /// The batch's name (default: the first file's name and a hash of the files'
    /// contents); a batch of that name is replaced.
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// Remove the batch NAME (see `doorstep import list`) and import these files
    /// in its place (e.g. a corrected export).
    #[arg(long, value_name = "NAME")]
    pub replace: Option<String>,
    /// Write nothing and fail when more than this share of the rows is rejected
    /// (0.05 = 5 %; 1 imports whatever is accepted).
    #[arg(long, value_name = "SHARE", default_value_t = 0.05)]
    pub max_rejected: f64,
    /// Stop at the first row that cannot be read, instead of keeping it in quarantine.
    #[arg(long)]
    pub strict: bool,
    /// csv: the column(s) holding the time; several (e.g. Date,Time) are joined with a space.
    #[arg(long, value_name = "NAME[,NAME]")]
    pub time_column: Option<String>,
    /// csv: how the time is written: a strftime pattern such as '%d.%m.%Y %H:%M', or
    /// unix, unix_ms, rfc3339 (default: recognised from the first row: ISO
    /// 2026-11-23 09:15[:00], 2026/11/23 …, US 11/23/2026 or 11/23/26 …, RFC 3339).
    #[arg(long, value_name = "FORMAT")]
    pub time_format: Option<String>,
    /// csv, milesight-vs13x: the timezone of times written without an offset
    /// (IANA name, e.g. Europe/Brussels; default: the site's).
    #[arg(long, value_name = "TZ")]
    pub timezone: Option<String>,
    /// csv: column of people in since the previous row (door).
    #[arg(long = "in", value_name = "NAME")]
    pub inn: Option<String>,
    /// csv: column of people out since the previous row (door).
    #[arg(long, value_name = "NAME")]
    pub out: Option<String>,
    /// csv: column of the cumulative in counter (door; a drop is a counter reset).
    #[arg(long, value_name = "NAME")]
    pub in_total: Option<String>,
    /// csv: column of the cumulative out counter (door; a drop is a counter reset).
    #[arg(long, value_name = "NAME")]
    pub out_total: Option<String>,
    /// csv: column of the number of people in the room (count).
    #[arg(long, value_name = "NAME")]
    pub count: Option<String>,
    /// csv: column saying whether anyone is in the room: 1/0, true/false, yes/no (presence).
    #[arg(long, value_name = "NAME")]
    pub presence: Option<String>,
    /// csv: the field separator (default: comma; `\t` or `tab` for tabs).
    #[arg(long, value_name = "CHAR")]
    pub delimiter: Option<String>,
    /// The files to import, in any order (rows are taken in time order).
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
}
