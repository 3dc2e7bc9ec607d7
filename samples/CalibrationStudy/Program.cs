// CalibrationStudy: one MLP classifier trained with five losses declared in Losses.cs (cross-entropy, label smoothing,
// focal, Poly-1, dual focal); per loss, the measured calibration on a held-out set next to the calibration verdict the
// LossDsl analyzer gave that loss when this project was compiled (read from the compiler's SARIF log).
//
// Run:  dotnet run --project samples/CalibrationStudy -c Release [-- outdir] [--quick]

return LossDsl.Samples.CalibrationStudy.Study.CommandLine(args);
