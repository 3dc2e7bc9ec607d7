// The primitives of Common/ are the layer every other one builds on (Common → IR → Model → stages): every file of
// the generator may use them without an import, as it uses System.
global using LossDsl.Generator.Common;
