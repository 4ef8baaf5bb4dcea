set terminal pngcairo size 800,480 font 'sans,10'
set output "fig-5-5.png"
set title "§5.5: response ÷ burst (median), alone / equal / favoured"
set grid
set style data histogram
set style histogram errorbars gap 2 lw 1
set style fill solid 0.6 border -1
set key top right
set xtics rotate by -20
set ylabel "response ÷ burst"
set yrange [0:*]
plot "fig-5-5.dat" using 2:3:4:xtic(1) title 'ours (median, min–max)'
