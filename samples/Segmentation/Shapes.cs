using System;

namespace LossDsl.Samples.Segmentation;

/// <summary>
/// Synthetic images: one to three shapes (circle, square, triangle) of random size, position and rotation, each filled
/// with a random brightness, on a noisy background; the mask holds each pixel's class (0 background, 1 circle, 2 square,
/// 3 triangle; a later shape covers an earlier one). Brightness does not tell the classes apart: the shape does.
/// </summary>
public static class Shapes
{
    public const int Classes = 4;
    public static readonly string[] ClassNames = ["background", "circle", "square", "triangle"];

    public static (float[] Images, long[] Masks) Make(int count, int size, Random rng)
    {
        var images = new float[count * size * size];
        var masks = new long[count * size * size];
        for (int n = 0; n < count; n++)
        {
            int offset = n * size * size;
            for (int i = 0; i < size * size; i++) images[offset + i] = 0.1f;
            int shapes = 1 + rng.Next(3);
            for (int s = 0; s < shapes; s++)
            {
                int cls = 1 + rng.Next(Classes - 1);
                double radius = size * (0.12 + 0.14 * rng.NextDouble());
                double cx = radius + rng.NextDouble() * (size - 2 * radius), cy = radius + rng.NextDouble() * (size - 2 * radius);
                double angle = rng.NextDouble() * 2 * Math.PI;
                float brightness = (float)(0.5 + 0.5 * rng.NextDouble());
                for (int y = 0; y < size; y++)
                    for (int x = 0; x < size; x++)
                        if (Inside(cls, x + 0.5 - cx, y + 0.5 - cy, radius, angle))
                        {
                            images[offset + y * size + x] = brightness;
                            masks[offset + y * size + x] = cls;
                        }
            }
            for (int i = 0; i < size * size; i++) images[offset + i] += (float)(0.2 * Gaussian(rng));
        }
        return (images, masks);
    }

    /// <summary>Whether the offset (dx, dy) from the shape's center is inside it. Square: half-side r; triangle: circumradius r.</summary>
    static bool Inside(int cls, double dx, double dy, double r, double angle)
    {
        double u = Math.Cos(angle) * dx + Math.Sin(angle) * dy, v = -Math.Sin(angle) * dx + Math.Cos(angle) * dy;
        switch (cls)
        {
            case 1: return dx * dx + dy * dy <= r * r;
            case 2: return Math.Abs(u) <= r * 0.85 && Math.Abs(v) <= r * 0.85;
            default:
                // An equilateral triangle with circumradius r: inside all three half-planes at distance r/2 from the center.
                for (int k = 0; k < 3; k++)
                {
                    double a = 2 * Math.PI * k / 3;
                    if (Math.Cos(a) * u + Math.Sin(a) * v > r / 2) return false;
                }
                return true;
        }
    }

    static double Gaussian(Random rng)
        => Math.Sqrt(-2.0 * Math.Log(1.0 - rng.NextDouble())) * Math.Cos(2.0 * Math.PI * rng.NextDouble());
}
