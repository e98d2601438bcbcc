// cmd/commands.h — every subcommand registers itself here, explicitly, from main().
// Each Add*Command adds a CLI11 subcommand with its flags and a callback that runs it; the
// callback sets *exit_code. Subcommands live in their own files (gateway_cmd.cc, sim_cmd.cc, …).
#pragma once

#include <CLI/CLI.hpp>

namespace ap::cmd {

void AddGatewayCommand(CLI::App& app, int* exit_code);
void AddUpCommand(CLI::App& app, int* exit_code);
void AddSimCommand(CLI::App& app, int* exit_code);
void AddBenchCommand(CLI::App& app, int* exit_code);
void AddAdminCommands(CLI::App& app, int* exit_code);  // keys, teams

}  // namespace ap::cmd
