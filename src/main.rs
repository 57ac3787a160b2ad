//! The `dvt-cds` binary: parses the command line and hands over to `app`.

use std::process::ExitCode;

use clap::Parser;
use dvt_cds::app;
use dvt_cds::config::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(error) = dvt_cds::telemetry::init(cli.log_format, &cli.log) {
        report(&error);
        return ExitCode::FAILURE;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            report(&anyhow::Error::new(error).context("cannot start the async runtime"));
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => app::serve(args).await,
            Command::Evaluate(args) => app::evaluate(args).await,
            Command::Feedback(command) => app::feedback(command).await,
            Command::Demo(command) => app::demo(command).await,
            Command::Audit(command) => app::audit(command).await,
            Command::Report(args) => app::report(args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            report(&error);
            ExitCode::FAILURE
        }
    }
}

/// One line on stderr: the error and its causes.
fn report(error: &anyhow::Error) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "dvt-cds: {error:#}");
}
