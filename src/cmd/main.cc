// cmd/main.cc — the agentplane binary: one program, many subcommands.
#include <malloc.h>

#include <cstdio>

#include "cmd/commands.h"

int main(int argc, char** argv) {
  // glibc returns freed memory to the kernel eagerly (madvise on every trim past 128 KiB) and
  // moves its mmap threshold as it goes; under proxy load that showed up as latency spikes and a
  // third of the CPU of a stream (docs/benchmarks.md). Keep freed memory for reuse instead.
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
  mallopt(M_MMAP_THRESHOLD, 4 << 20);
  CLI::App app{
      "agentplane — one program for an agentic AI platform: gateway, scheduler, telemetry, "
      "simulated GPU fleet.\n\n"
      "Examples:\n"
      "  agentplane up                                   # gateway + simulated fleet, local mode\n"
      "  agentplane gateway --port 8080 --backend http://127.0.0.1:8000/v1\n"
      "  agentplane gateway --config examples/gateway.yaml\n"
      "  agentplane keys create --team ml --rpm 60        # a virtual key (admin API)\n",
      "agentplane"};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "Show help for every subcommand");
  int exit_code = 0;
  ap::cmd::AddUpCommand(app, &exit_code);
  ap::cmd::AddGatewayCommand(app, &exit_code);
  ap::cmd::AddSimCommand(app, &exit_code);
  ap::cmd::AddBenchCommand(app, &exit_code);
  ap::cmd::AddAdminCommands(app, &exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return exit_code;
}
