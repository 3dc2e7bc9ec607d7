using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LossDsl.Samples.Segmentation;

/// <summary>A small U-Net: two 2×2 poolings down, two transposed convolutions up, with skip connections.</summary>
public sealed class UNet : nn.Module<Tensor, Tensor>
{
    readonly Sequential down1, down2, bottom, up2Conv, up1Conv;
    readonly ConvTranspose2d up2, up1;
    readonly Conv2d head;

    public UNet(int channels, int classes) : base(nameof(UNet))
    {
        int c = channels;
        down1 = Block(1, c);
        down2 = Block(c, 2 * c);
        bottom = Block(2 * c, 4 * c);
        up2 = nn.ConvTranspose2d(4 * c, 2 * c, 2, stride: 2);
        up2Conv = Block(4 * c, 2 * c);
        up1 = nn.ConvTranspose2d(2 * c, c, 2, stride: 2);
        up1Conv = Block(2 * c, c);
        head = nn.Conv2d(c, classes, 1);
        RegisterComponents();
    }

    static Sequential Block(long inChannels, long outChannels) => nn.Sequential(
        nn.Conv2d(inChannels, outChannels, 3, padding: 1), nn.BatchNorm2d(outChannels), nn.ReLU(),
        nn.Conv2d(outChannels, outChannels, 3, padding: 1), nn.BatchNorm2d(outChannels), nn.ReLU());

    public override Tensor forward(Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        var s1 = down1.call(x);                                        // [N, c, H, W]
        var s2 = down2.call(nn.functional.max_pool2d(s1, 2));          // [N, 2c, H/2, W/2]
        var b = bottom.call(nn.functional.max_pool2d(s2, 2));          // [N, 4c, H/4, W/4]
        var u2 = up2Conv.call(torch.cat([up2.call(b), s2], 1));        // [N, 2c, H/2, W/2]
        var u1 = up1Conv.call(torch.cat([up1.call(u2), s1], 1));       // [N, c, H, W]
        return head.call(u1).MoveToOuterDisposeScope();                // [N, classes, H, W] logits
    }
}
