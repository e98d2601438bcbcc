// cmd/main.cc — the agentplane binary: one program, many subcommands.
#include <cstdio>

#include "cmd/commands.h"

int main(int argc, char** argv) {
  // Memory comes from jemalloc (linked in src/cmd/CMakeLists.txt): glibc's eager trimming,
  // which once cost a third of a stream's CPU, no longer applies.
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
